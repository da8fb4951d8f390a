"""Two runs of the same task compared sample by sample and token by token (runner=compare):
pure Python and numpy, no torch. statistics/bootstrap/distributions hold the formulas; runs,
comparability, tokens, logprob_divergence, inputs and answers each read one aspect; comparison
puts them together."""
