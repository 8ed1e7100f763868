# ---------------------------------------------------------------------------
# One execution role per function. Its policy is
#   * what every function needs to run: its own log group, the suite KMS key
#     (only through S3, DynamoDB, Secrets Manager and Lambda), X-Ray;
#   * what its trigger needs: a consumer receives/deletes on its own queue, a
#     schedule's failed async invocations go to its own dead-letter queue;
#   * the grants of the ports its handlers declare (grants.tf, from
#     shared/catalog/needs.json): nothing else.
# ---------------------------------------------------------------------------

resource "aws_iam_role" "function" {
  for_each = local.functions

  name        = each.value.name
  description = "Execution role of ${each.value.name} (${each.value.kind}, group ${each.value.group})"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "lambda.amazonaws.com" }
        Action    = "sts:AssumeRole"
      },
    ]
  })

  tags = merge(var.tags, { Function = each.key })
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = local.functions

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

locals {
  ses_identity_arns = [
    "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/${var.mail_from}",
    "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/${split("@", var.mail_from)[1]}",
  ]

  # Symbolic grant targets (grants.tf) => ARNs.
  grant_targets = merge(
    {
      "objects:claims"            = ["${aws_s3_bucket.this["claims"].arn}/${var.storage.claims_prefix}*"]
      "objects:uploads"           = ["${aws_s3_bucket.this["uploads"].arn}/${var.storage.uploads_prefix}*"]
      "objects:thumbnails"        = ["${aws_s3_bucket.this["thumbnails"].arn}/${var.storage.thumbnails_prefix}*"]
      "bucket:uploads"            = [aws_s3_bucket.this["uploads"].arn]
      "table:index"               = [aws_dynamodb_table.index.arn]
      "table:idempotency"         = [aws_dynamodb_table.idempotency.arn]
      "table:orders"              = [aws_dynamodb_table.orders.arn]
      "table:orders_status_index" = ["${aws_dynamodb_table.orders.arn}/index/${local.orders_status_index}"]
      "table:orders_outbox_index" = ["${aws_dynamodb_table.orders.arn}/index/${local.orders_outbox_index}"]
      "bus:events"                = [aws_cloudwatch_event_bus.this.arn]
      "ses:identities"            = local.ses_identity_arns
      "secret:webhook"            = [aws_secretsmanager_secret.webhook.arn]
      "secret:smtp"               = aws_secretsmanager_secret.smtp[*].arn
      "secret:stripe"             = aws_secretsmanager_secret.stripe[*].arn
    },
    { for name, dlq in aws_sqs_queue.dlq : "dlq:${name}" => [dlq.arn] },
  )

  # The suite key is used through these services only (S3 SSE-KMS objects, DynamoDB tables,
  # Secrets Manager, Lambda environment variables).
  kms_via_services = [for s in ["s3", "dynamodb", "secretsmanager", "lambda"] : "${s}.${local.region}.amazonaws.com"]

  function_statements = {
    for name, f in local.functions : name => concat(
      [
        {
          Sid      = "OwnLogGroup"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.function[name].arn}:*"]
        },
        {
          Sid       = "SuiteKeyViaServices"
          Effect    = "Allow"
          Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource  = [aws_kms_key.suite.arn]
          Condition = { StringEquals = { "kms:ViaService" = local.kms_via_services } }
        },
      ],
      [
        for q, queue in aws_sqs_queue.queue : {
          Sid    = "OwnQueueConsume"
          Effect = "Allow"
          Action = [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
          ]
          Resource = [queue.arn]
        } if q == name
      ],
      [
        for q, dlq in aws_sqs_queue.schedule_dlq : {
          Sid      = "OwnScheduleDeadLetterQueueSend"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = [dlq.arn]
        } if q == name
      ],
      # The ports its handlers declare (grants.tf). Sids are unique per grant.
      [
        for g in local.function_grants[name] : merge(
          {
            Sid      = g.sid
            Effect   = "Allow"
            Action   = g.actions
            Resource = flatten([for t in g.targets : local.grant_targets[t]])
          },
          length(g.conditions) > 0 ? { Condition = g.conditions } : {},
        )
      ],
    )
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name = "least-privilege"
  role = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.function_statements[each.key]
  })
}
