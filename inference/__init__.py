"""The inference runtime: turns Requests (text + images/video) into text.

It knows nothing of tasks or scoring; runners wire it to modeltest.
"""
