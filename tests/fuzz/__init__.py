"""A fuzzer over the gateway's whole gRPC API.

The strategies (``values``, ``circuits``, ``tokens``, ``requests``) make random and mutated
requests for every RPC; ``harness`` sends them over a real channel and says what is wrong
with an answer; ``gateway`` asks whether it still serves and how much memory it holds;
``consistency`` checks the store afterwards. ``test_api`` is the short run
CI makes every time; ``bench/fuzz_api.py`` is the long one, on the same strategies.
"""
