"""`python -m bench`: what sessions cost under the cart mix, side by side with the peers.

`results` holds the pure logic (parsing, ratios, targets, tables), `runner` starts the processes
and drives wrk, the `*_probe` modules run inside their own subprocesses, `chart` draws the PNG.
"""
