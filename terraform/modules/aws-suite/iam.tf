# ---------------------------------------------------------------------------
# One execution role per function, least privilege, built per function kind:
#   every function   : its own log group, X-Ray, the suite KMS key
#   consumers        : read claims; receive/delete on its own queue, send to
#                      its own DLQ; data access of its catalog group:
#     group images   : read uploads (uploads prefix), write thumbnails,
#                      index + idempotency tables
#     group orders   : orders table (+ GSI), idempotency table, PutEvents on
#                      the custom bus, write claims, SES send (mailer = ses)
#   HTTP endpoints   : only what shared/http.py uses:
#     publishers     : PutEvents on the custom bus, write claims (large
#                      payloads are claim-checked) when the endpoint emits
#     orders API     : + create/read orders (PutItem, GetItem) on the orders
#                      table (a non-webhook endpoint of group orders)
#     signed webhooks: + nothing but the secret below
#   webhook readers  : GetSecretValue on the webhook secret only
#   schedules        : what the job does (group orders: the order reconciler):
#                      Query on the orders status index, PutEvents on the
#                      custom bus and write claims when it emits, SendMessage
#                      to its own dead-letter queue (failed async invocations)
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
  dynamodb_item_actions = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
  ]

  idempotency_statement = {
    Sid      = "IdempotencyTable"
    Effect   = "Allow"
    Action   = local.dynamodb_item_actions
    Resource = [aws_dynamodb_table.idempotency.arn]
  }

  ses_identity_arns = [
    "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/${var.mail_from}",
    "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/${split("@", var.mail_from)[1]}",
  ]

  publish_statements = [
    {
      Sid      = "PublishEvents"
      Effect   = "Allow"
      Action   = ["events:PutEvents"]
      Resource = [aws_cloudwatch_event_bus.this.arn]
    },
    {
      Sid      = "ClaimsWrite"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = ["${aws_s3_bucket.this["claims"].arn}/*"]
    },
  ]

  claims_read_statement = {
    Sid      = "ClaimsRead"
    Effect   = "Allow"
    Action   = ["s3:GetObject"]
    Resource = ["${aws_s3_bucket.this["claims"].arn}/*"]
  }

  # Consumers: the data access of their catalog group (its handlers share the stores).
  consumer_group_statements = {
    images = [
      {
        Sid      = "UploadsRead"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = ["${aws_s3_bucket.this["uploads"].arn}/${var.storage.uploads_prefix}*"]
      },
      {
        # Lets a missing key answer 404 rather than 403.
        Sid      = "ImageBucketsList"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [aws_s3_bucket.this["uploads"].arn, aws_s3_bucket.this["thumbnails"].arn]
      },
      {
        Sid      = "ThumbnailsWrite"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject"]
        Resource = ["${aws_s3_bucket.this["thumbnails"].arn}/*"]
      },
      {
        Sid      = "IndexTable"
        Effect   = "Allow"
        Action   = concat(local.dynamodb_item_actions, ["dynamodb:Query"])
        Resource = [aws_dynamodb_table.index.arn]
      },
      local.idempotency_statement,
    ]
    orders = concat(
      [
        {
          Sid      = "OrdersTable"
          Effect   = "Allow"
          Action   = concat(local.dynamodb_item_actions, ["dynamodb:Query"])
          Resource = [aws_dynamodb_table.orders.arn, "${aws_dynamodb_table.orders.arn}/index/*"]
        },
        local.idempotency_statement,
      ],
      local.publish_statements,
      [
        for m in [var.mailer] : {
          Sid      = "SendMail"
          Effect   = "Allow"
          Action   = ["ses:SendEmail", "ses:SendRawEmail"]
          Resource = local.ses_identity_arns
        } if m == "ses"
      ],
    )
  }

  # The orders API creates an order with a conditional PutItem (or a TransactWriteItems
  # of two Puts, which IAM checks as PutItem) and reads it back with a consistent
  # GetItem; it reads neither the GSI nor the idempotency table.
  order_intake_statement = {
    Sid      = "OrdersTableIntake"
    Effect   = "Allow"
    Action   = ["dynamodb:PutItem", "dynamodb:GetItem"]
    Resource = [aws_dynamodb_table.orders.arn]
  }

  # The order reconciler reads the orders still PLACED with one Query on the status
  # index (projection ALL): no GetItem, no Scan, nothing on the table itself.
  stale_orders_read_statement = {
    Sid      = "OrdersStatusIndexQuery"
    Effect   = "Allow"
    Action   = ["dynamodb:Query"]
    Resource = ["${aws_dynamodb_table.orders.arn}/index/${local.orders_status_index}"]
  }

  # Data access per function: consumers by group; HTTP endpoints by what their
  # handler does (publish if it emits; the orders API also writes orders);
  # schedules by what their job does.
  data_statements = merge(
    {
      for name, c in var.consumers : name => concat(
        [local.claims_read_statement],
        local.consumer_group_statements[c.group],
      )
    },
    {
      for name, e in var.http_endpoints : name => concat(
        [for s in local.publish_statements : s if length(e.emits) > 0],
        [
          for s in [local.order_intake_statement] : s
          if e.group == "orders" && !contains(var.signed_webhook_endpoints, name)
        ],
      )
    },
    {
      for name, s in var.schedules : name => concat(
        [for st in local.publish_statements : st if length(s.emits) > 0],
        [for st in [local.stale_orders_read_statement] : st if s.group == "orders"],
      )
    },
  )

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
          # S3 SSE-KMS objects, DynamoDB tables, Secrets Manager and Lambda environment variables.
          Sid      = "SuiteKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = [aws_kms_key.suite.arn]
        },
      ],
      local.data_statements[name],
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
        for q, dlq in aws_sqs_queue.dlq : {
          Sid      = "OwnDeadLetterQueueSend"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
          Resource = [dlq.arn]
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
      [
        for r in distinct(var.webhook_secret_readers) : {
          Sid      = "WebhookSecretRead"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = [aws_secretsmanager_secret.webhook.arn]
        } if r == name
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
