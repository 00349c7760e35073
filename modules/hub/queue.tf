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
        identifiers = local.spoke_topic_principals
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

  # The reconciler (adjoin.reconciler) queues its tasks and the EC2 events it found missing.
  statement {
    sid       = "LambdaReconcileWork"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]
    principals {
      type        = "AWS"
      identifiers = [local.lambda_role_arn]
    }
  }

  # No forged events, not even from this account's own principals: a message must come from one
  # of our rules or topics (aws:SourceArn), from the Lambda's role (the reconciler's work), or
  # from a principal listed to redrive the DLQ (StartMessageMoveTask sends to this queue with the
  # caller's permissions).
  statement {
    sid       = "OnlyOurRulesAndTopics"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:SourceArn"
      values   = local.queue_sources
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = concat([local.lambda_role_arn], var.dlq_redrive_principal_arns)
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
