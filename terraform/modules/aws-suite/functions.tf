# ---------------------------------------------------------------------------
# One Lambda per catalog consumer (SQS-triggered, handle_queue), per HTTP
# endpoint (API Gateway, handle_http) and per schedule (EventBridge Scheduler,
# handle_schedule, schedules.tf). Python 3.12 on arm64, code from the group's
# zip (package_paths), X-Ray active, environment per the deployment contract
# (functions/README.md) encrypted with the suite key.
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.suite.arn

  tags = merge(var.tags, { Function = each.key })
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_117:The functions reach only AWS public service endpoints (SQS, S3, DynamoDB, EventBridge, SES, Secrets Manager) and, with mailer = smtp, the configured SMTP relay; a VPC would add NAT/endpoint cost and cold-start latency without protecting anything
  #checkov:skip=CKV_AWS_116:Only schedule functions are invoked asynchronously, and they get a dead_letter_config (their schedule's DLQ, below); consumers are invoked synchronously by their SQS event source mapping (failures dead-letter through the queue's redrive policy to the consumer DLQ) and HTTP functions synchronously by API Gateway
  #checkov:skip=CKV_AWS_272:Packages are built reproducibly in CI and pinned by source_code_hash; AWS Signer code signing is not part of this delivery pipeline
  #checkov:skip=CKV_AWS_115:Reserved concurrency is opt-in via var.reserved_concurrency because it carves capacity out of the account pool (new accounts cannot reserve any); a consumer's concurrency can be capped per queue with var.consumer_max_concurrency (uncapped unless set), HTTP traffic is bounded by the stage throttling, and each schedule runs once per period
  for_each = local.functions

  function_name = each.value.name
  description   = substr(each.value.description, 0, 256)
  role          = aws_iam_role.function[each.key].arn

  runtime       = "python3.12"
  architectures = ["arm64"]
  handler       = each.value.handler
  memory_size   = each.value.memory_mb
  timeout       = each.value.timeout

  filename         = var.package_paths[each.value.group]
  source_code_hash = filebase64sha256(var.package_paths[each.value.group])

  reserved_concurrent_executions = lookup(var.reserved_concurrency, each.key, -1)
  kms_key_arn                    = aws_kms_key.suite.arn

  environment {
    variables = merge(
      local.common_env,
      contains(local.smtp_mail_functions, each.key) ? local.smtp_secret_env : {},
      contains(local.payment_functions, each.key) ? local.stripe_secret_env : {},
      each.value.extra_env,
    )
  }

  tracing_config {
    mode = "Active"
  }

  # Schedule functions (invoked asynchronously by EventBridge Scheduler): a run that still
  # fails after Lambda's retries is parked in the schedule's dead-letter queue.
  dynamic "dead_letter_config" {
    for_each = [for s, q in aws_sqs_queue.schedule_dlq : q.arn if s == each.key]
    content {
      target_arn = dead_letter_config.value
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = merge(var.tags, { Function = each.key, Group = each.value.group })

  depends_on = [
    aws_iam_role_policy.function,
    aws_iam_role_policy_attachment.xray,
  ]
}

# SQS -> Lambda. Retries and dead-lettering belong to the queue's redrive
# policy: maximum_retry_attempts, destination_config, bisect and
# starting_position do not apply to SQS mappings. The handler returns
# `batchItemFailures` so one bad record does not fail the batch.
resource "aws_lambda_event_source_mapping" "consumer" {
  for_each = local.consumers

  event_source_arn                   = aws_sqs_queue.queue[each.key].arn
  function_name                      = aws_lambda_function.function[each.key].arn
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = contains(keys(var.consumer_max_concurrency), each.key) ? [var.consumer_max_concurrency[each.key]] : []
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  tags = merge(var.tags, { Consumer = each.key })

  depends_on = [aws_iam_role_policy.function]

  lifecycle {
    precondition {
      condition     = each.value.batch_size <= 10 || var.batching_window_seconds >= 1
      error_message = "A batch_size above 10 needs batching_window_seconds >= 1 (SQS event source mapping rule)."
    }
  }
}
