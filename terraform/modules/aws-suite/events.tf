# ---------------------------------------------------------------------------
# Application events: one custom bus. Publishers call PutEvents with
# EventBusName = this bus, DetailType = CloudEvent `type`, Source = CloudEvent
# `source`, Detail = the structured CloudEvent JSON.
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_bus" "this" {
  name        = local.bus_name
  description = "${var.name_prefix} application events (CloudEvents in detail)"

  tags = var.tags

  lifecycle {
    precondition {
      condition     = alltrue(flatten([for c in values(var.consumers) : [for e in c.subscribes : contains(keys(var.events), e)]]))
      error_message = "Every event a consumer subscribes to must be declared in the catalog events."
    }
    precondition {
      condition     = alltrue(flatten([for e in values(var.http_endpoints) : [for ev in e.emits : contains(keys(var.events), ev)]]))
      error_message = "Every event an HTTP endpoint emits must be declared in the catalog events."
    }
    precondition {
      condition     = length(setintersection(keys(var.consumers), keys(var.http_endpoints))) == 0
      error_message = "Consumer and HTTP endpoint names must be distinct (both name a Lambda function)."
    }
    precondition {
      condition     = alltrue([for g in local.groups : contains(keys(var.package_paths), g)])
      error_message = "package_paths must hold a zip for every catalog group used by a consumer or HTTP endpoint."
    }
    precondition {
      condition     = length(local.functions_without_needs) == 0 && length(local.needs_without_function) == 0
      error_message = "function_needs (shared/catalog/needs.json) must list exactly the catalog's functions: missing ${jsonencode(local.functions_without_needs)}, unknown ${jsonencode(local.needs_without_function)}."
    }
    precondition {
      condition     = var.mailer != "smtp" || var.smtp != null
      error_message = "mailer = \"smtp\" needs var.smtp (host, port, username, starttls)."
    }
  }
}

# ---------------------------------------------------------------------------
# Per consumer: queue + DLQ (SQS redrive after max_delivery_attempts receives)
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  for_each = local.consumers

  name                      = each.value.dlq_name
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  sqs_managed_sse_enabled   = true

  tags = merge(var.tags, { Consumer = each.key })
}

resource "aws_sqs_queue" "queue" {
  for_each = local.consumers

  name                       = each.value.queue_name
  visibility_timeout_seconds = each.value.visibility_timeout
  message_retention_seconds  = var.queue_message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_delivery_attempts
  })

  tags = merge(var.tags, { Consumer = each.key })
}

# Only the consumer's own queue may redrive into its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.consumers

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

# ---------------------------------------------------------------------------
# Per consumer: a rule on the custom bus matching the detail-type (CloudEvent
# type) of every event it subscribes to -> its queue, with retries and the
# consumer's DLQ as the target dead-letter queue.
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "consumer" {
  for_each = local.consumers

  name           = each.value.rule_name
  description    = "${each.key}: ${join(", ", each.value.subscribes)}"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern = jsonencode({
    "detail-type" = each.value.detail_types
  })

  tags = merge(var.tags, { Consumer = each.key })
}

resource "aws_cloudwatch_event_target" "consumer" {
  for_each = local.consumers

  rule           = aws_cloudwatch_event_rule.consumer[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "queue"
  arn            = aws_sqs_queue.queue[each.key].arn

  retry_policy {
    maximum_event_age_in_seconds = var.eventbridge_max_event_age_seconds
    maximum_retry_attempts       = var.eventbridge_max_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq[each.key].arn
  }
}

# ---------------------------------------------------------------------------
# Uploads: S3 "Object Created" (EventBridge-enabled bucket, DEFAULT bus) under
# the uploads prefix -> the queue of every consumer of the upload event. One
# rule per consumer (a rule holds at most 5 targets, and each queue policy can
# then name exactly its own rule).
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "uploads" {
  for_each = local.upload_consumers

  name        = each.value.uploads_rule_name
  description = "${each.key}: S3 Object Created under ${var.storage.uploads_prefix} in the uploads bucket (${var.upload_event_name})"
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.this["uploads"].bucket] }
      object = { key = [{ prefix = var.storage.uploads_prefix }] }
    }
  })

  tags = merge(var.tags, { Consumer = each.key })
}

resource "aws_cloudwatch_event_target" "uploads" {
  for_each = local.upload_consumers

  rule      = aws_cloudwatch_event_rule.uploads[each.key].name
  target_id = "queue"
  arn       = aws_sqs_queue.queue[each.key].arn

  retry_policy {
    maximum_event_age_in_seconds = var.eventbridge_max_event_age_seconds
    maximum_retry_attempts       = var.eventbridge_max_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq[each.key].arn
  }
}

# ---------------------------------------------------------------------------
# Queue policies: EventBridge may send to the queue (delivery) and to the DLQ
# (target dead-letter), only on behalf of this consumer's own rules.
# ---------------------------------------------------------------------------

locals {
  consumer_rule_arns = {
    for name in keys(local.consumers) : name => concat(
      [aws_cloudwatch_event_rule.consumer[name].arn],
      [for r, rule in aws_cloudwatch_event_rule.uploads : rule.arn if r == name],
    )
  }
}

resource "aws_sqs_queue_policy" "queue" {
  for_each = local.consumers

  queue_url = aws_sqs_queue.queue[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeDelivery"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.queue[each.key].arn
        Condition = {
          ArnEquals = { "aws:SourceArn" = local.consumer_rule_arns[each.key] }
        }
      },
    ]
  })
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = local.consumers

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeDeadLetter"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.dlq[each.key].arn
        Condition = {
          ArnEquals = { "aws:SourceArn" = local.consumer_rule_arns[each.key] }
        }
      },
    ]
  })
}
