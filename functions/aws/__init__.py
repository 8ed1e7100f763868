"""AWS Lambda flavour of the suite: thin entry points, boto3 adapters and packaging.

``entrypoint`` is what Lambda imports (it imports nothing heavy); ``bootstrap`` is the
composition root that builds the ports on the first invocation; ``adapters`` implement the
core's ports over S3, DynamoDB, EventBridge, SQS, SES and Secrets Manager.
"""
