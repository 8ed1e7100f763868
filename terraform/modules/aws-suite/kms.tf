# One customer-managed key for the suite's data at rest: S3 buckets (except the
# access-logs bucket, which S3 server access logging requires to be SSE-S3),
# DynamoDB tables, CloudWatch log groups, Lambda environment variables, the
# webhook secret and the alarm topic. The SQS queues use SSE-SQS so that
# EventBridge and S3 need no key grants to deliver.
locals {
  # ARN of the alarm topic (alarms.tf) when it is created.
  alarm_topic_arns = var.create_alarm_topic ? ["arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.alarm_topic_name}"] : []
}

resource "aws_kms_key" "suite" {
  description             = "${var.name_prefix} event suite data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "AccountAdministration"
          Effect    = "Allow"
          Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
          Action    = "kms:*"
          Resource  = "*"
        },
        {
          # Log groups of this account and region only (the documented condition:
          # CloudWatch Logs passes the log group ARN as encryption context).
          Sid       = "CloudWatchLogs"
          Effect    = "Allow"
          Principal = { Service = "logs.${local.region}.amazonaws.com" }
          Action = [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
          ]
          Resource = "*"
          Condition = {
            ArnLike = {
              "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
            }
          }
        },
      ],
      [
        # CloudWatch alarms publishing to the encrypted alarm topic: only alarms of
        # this account and region (aws:SourceAccount / aws:SourceArn, the
        # confused-deputy guard for service principals) and only for that topic
        # (SNS passes the topic ARN as encryption context). The ARN is built from
        # the topic name because the topic itself depends on this key.
        for t in local.alarm_topic_arns : {
          Sid       = "CloudWatchAlarmsToEncryptedTopic"
          Effect    = "Allow"
          Principal = { Service = "cloudwatch.amazonaws.com" }
          Action = [
            "kms:Decrypt",
            "kms:GenerateDataKey*",
          ]
          Resource = "*"
          Condition = {
            StringEquals = {
              "aws:SourceAccount"                      = local.account_id
              "kms:EncryptionContext:aws:sns:topicArn" = t
            }
            ArnLike = {
              "aws:SourceArn" = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"
            }
          }
        }
      ],
    )
  })

  tags = var.tags
}

resource "aws_kms_alias" "suite" {
  name          = "alias/${var.name_prefix}-suite"
  target_key_id = aws_kms_key.suite.key_id
}
