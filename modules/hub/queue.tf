# The domain-join queue (delayed, KMS-encrypted) and its dead-letter queue. Only the hub bus
# rules, the spoke-region topics and the Lambda role may use them.

resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.this.arn
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  name                       = local.queue_name
  delay_seconds              = var.queue_delay_seconds
  visibility_timeout_seconds = 900
  message_retention_seconds  = 1209600
  kms_master_key_id          = aws_kms_key.this.arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 15
  })
  tags = var.tags
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "HubBusRules"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = module.event_bus.rule_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.spoke_topic_arns) > 0 ? [1] : []
    content {
      sid       = "SpokeRegionTopics"
      actions   = ["sqs:SendMessage"]
      resources = [local.queue_arn]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = local.spoke_topic_arns
      }
    }
  }

  statement {
    sid       = "Lambda"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [local.queue_arn]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }

  statement {
    sid       = "LambdaReconcileWork"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.queue.json

  # The policy names the Lambda role: it must exist first.
  depends_on = [aws_iam_role.lambda]
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "LambdaPermanentFailures"
    actions   = ["sqs:SendMessage"]
    resources = [local.dlq_arn]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json

  depends_on = [aws_iam_role.lambda]
}
