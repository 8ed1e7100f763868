# ---------------------------------------------------------------------------
# Per catalog schedule (var.schedules, e.g. the order reconciler): an
# EventBridge Scheduler schedule invoking the schedule's Lambda function
# (functions.tf, handle_schedule) every `every_minutes`.
#
#   scheduler --(its own role: lambda:InvokeFunction on that function only)--> Lambda (async)
#       | invocation refused / throttled beyond the retry policy       | the job raised, after
#       v                                                              v Lambda's 2 retries
#   <prefix>-<schedule>-dlq (SQS, SSE) <--------------------------------+
#
# Alarms: the function's Errors > 0 over one period, and anything in the DLQ
# (the only trace of a schedule that cannot invoke its function at all).
# The Lambda function, its execution role and log group are the shared ones
# in functions.tf and iam.tf (local.functions includes the schedules).
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "schedule_dlq" {
  for_each = local.schedules

  name                      = each.value.dlq_name
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  # SSE-SQS: the scheduler role and the function role send without a KMS grant.
  sqs_managed_sse_enabled = true

  tags = merge(var.tags, { Schedule = each.key })
}

# How long Lambda keeps retrying a failed run (at most 2 retries); the next
# run repeats the job anyway, so a retry is never kept past one period.
resource "aws_lambda_function_event_invoke_config" "schedule" {
  for_each = local.schedules

  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = each.value.retry_max_age_seconds
}

# The suite's own schedule group: the scheduler roles trust only schedules of this group, not
# every schedule of the account's default group.
resource "aws_scheduler_schedule_group" "this" {
  count = length(var.schedules) > 0 ? 1 : 0

  name = var.name_prefix
  tags = var.tags
}

resource "aws_iam_role" "scheduler" {
  for_each = local.schedules

  name        = each.value.scheduler_role_name
  description = "EventBridge Scheduler role of ${each.value.schedule_name}: invoke ${each.value.function_name}, dead-letter to ${each.value.dlq_name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "scheduler.amazonaws.com" }
        Action    = "sts:AssumeRole"
        # Confused-deputy guard: only schedules of the suite's own schedule group
        # (Scheduler passes the group's ARN, not the schedule's, as aws:SourceArn).
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnEquals = {
            "aws:SourceArn" = aws_scheduler_schedule_group.this[0].arn
          }
        }
      },
    ]
  })

  tags = merge(var.tags, { Schedule = each.key })
}

resource "aws_iam_role_policy" "scheduler" {
  for_each = local.schedules

  name = "invoke-own-function"
  role = aws_iam_role.scheduler[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "InvokeOwnFunction"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [aws_lambda_function.function[each.key].arn]
      },
      {
        # The scheduler delivers dead-letter events with its execution role.
        Sid      = "OwnDeadLetterQueueSend"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.schedule_dlq[each.key].arn]
      },
    ]
  })
}

resource "aws_scheduler_schedule" "schedule" {
  #checkov:skip=CKV_AWS_297:The only payload the scheduler stores is the constant target input below (schedule name and two context placeholders): nothing confidential to put under the suite key, and a customer managed key would add a key grant to every invocation
  for_each = local.schedules

  name                = each.value.schedule_name
  group_name          = aws_scheduler_schedule_group.this[0].name
  description         = substr("${each.key}: ${each.value.description}", 0, 512)
  schedule_expression = each.value.expression
  state               = "ENABLED"

  # Exactly on the rate: the job's grace period and horizon assume regular runs.
  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.function[each.key].arn
    role_arn = aws_iam_role.scheduler[each.key].arn
    # Logged by the function with its report; the environment (EVENTSUITE_SCHEDULE) decides the job.
    input = jsonencode({
      schedule       = each.key
      scheduled_time = "<aws.scheduler.scheduled-time>"
      execution_id   = "<aws.scheduler.execution-id>"
    })

    # Failures to invoke (throttling, a missing function or permission) are retried
    # with backoff for at most one period, then dead-lettered.
    retry_policy {
      maximum_event_age_in_seconds = each.value.invoke_max_age_seconds
      maximum_retry_attempts       = 185
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq[each.key].arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]

  lifecycle {
    precondition {
      condition     = !contains(concat(keys(var.consumers), keys(var.http_endpoints)), each.key)
      error_message = "Schedule ${each.key} has the name of a consumer or HTTP endpoint: function, role and log group names would collide."
    }

    precondition {
      condition     = alltrue([for e in each.value.emits : contains(keys(var.events), e)])
      error_message = "Schedule ${each.key} emits an event that is not in the catalog's events."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "schedule_errors" {
  for_each = local.schedules

  alarm_name        = "${each.value.function_name}-errors"
  alarm_description = "${each.key}: a scheduled run of ${each.value.function_name} failed (see its log group); Lambda retries it, then parks it in ${each.value.dlq_name}. The next run repeats the job."
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.function[each.key].function_name
  }
  statistic           = "Sum"
  period              = each.value.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Schedule = each.key })
}

resource "aws_cloudwatch_metric_alarm" "schedule_dlq_depth" {
  for_each = local.schedules

  alarm_name        = "${each.value.dlq_name}-not-empty"
  alarm_description = "${each.key}: the schedule could not invoke ${each.value.function_name}, or runs kept failing after Lambda's retries; inspect ${each.value.dlq_name} (the messages carry the error)."
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = aws_sqs_queue.schedule_dlq[each.key].name
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Schedule = each.key })
}
