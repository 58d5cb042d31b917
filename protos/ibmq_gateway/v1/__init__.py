"""Generated protobuf and gRPC code for the ibmq_gateway.v1 contract.

Everything in this package except this file is written by `.ci/gen-protos`; never edit it
by hand.
"""
