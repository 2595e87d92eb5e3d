"""`python -m bench`: what sessions cost under the cart mixes, side by side with the peers.

The pure logic (unit-tested in tests/bench/): `parse` reads what wrk and the probes print, `report`
holds a run's results, its pairs and the targets, `format` writes the tables. The running:
`processes` starts and stops servers (and has the port and health-check helpers the tests share),
`peers` knows how to start each row, `sections` runs each part of the bench, `stall` drives the stall
probe, `machine` describes the machine. The `*_probe` modules run inside their own subprocesses,
`chart` draws the PNG. `floor_probe` and `redis_probe` measure what the file and Redis stores' own
system calls and round trips cost alone: the floors.
"""
