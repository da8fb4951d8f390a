"""Qwen2-VL (2B/7B/72B-Instruct): images and native video, prepared the way the model card's
stack prepares them (qwen-vl-utils' process_vision_info before the processor):

- an image is resized with PIL (bicubic) to its smart size (sides multiples of 28, pixel count
  within [min_pixels, max_pixels], aspect ratio kept) before the processor sees it;
- a video gets `fps` frames per second of its length, at least `min_frames`, at most
  `max_frames` (and its frame count), rounded to an even count, at evenly spaced frame indices;
  its frames are resized (bicubic, antialiased) to a smart size whose pixel limit is the
  per-frame share of `video_total_pixels`, bounded by `video_max_pixels` and
  1.05 * `video_min_pixels`.
The processor then runs with the checkpoint's own preprocessor config, as in the model card.

The model and its checkpoint layout are transformers' own (Qwen2VLForConditionalGeneration,
read by inference.sharded_loading).

    processor.py    qwen-vl-utils' rules: smart sizes, frame counts and indices
    parallelize.py  its vision tower's tensor-parallel plan: vision blocks, patch merger
    adapter.py      the adapter: media prepared by those rules, then the checkpoint's processor
"""
