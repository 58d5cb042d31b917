"""The ibmq-gateway server: a grpc.aio service in front of local and IBM backends."""
