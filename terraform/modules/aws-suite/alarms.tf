# ---------------------------------------------------------------------------
# Per consumer: a backlog alarm (oldest message too old) and a dead-letter
# alarm (anything in the DLQ). Actions go to the optional encrypted SNS topic
# and to var.alarm_action_arns.
# ---------------------------------------------------------------------------

locals {
  alarm_topic_name = "${var.name_prefix}-alarms"
}

resource "aws_sns_topic" "alarms" {
  count = var.create_alarm_topic ? 1 : 0

  name              = local.alarm_topic_name
  kms_master_key_id = aws_kms_key.suite.arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.create_alarm_topic && var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  for_each = local.consumers

  alarm_name        = "${each.value.queue_name}-oldest-message-age"
  alarm_description = "${each.key}: the oldest message in ${each.value.queue_name} is older than ${var.queue_age_alarm_threshold_seconds} s (consumer stuck or too slow)."
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateAgeOfOldestMessage"
  dimensions = {
    QueueName = aws_sqs_queue.queue[each.key].name
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_alarm_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Consumer = each.key })
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = local.consumers

  alarm_name        = "${each.value.dlq_name}-not-empty"
  alarm_description = "${each.key}: messages are waiting in the dead-letter queue ${each.value.dlq_name} (EVENTSUITE_DLQ_URL); inspect and redrive."
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = aws_sqs_queue.dlq[each.key].name
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Consumer = each.key })
}
