# The reconciler's schedule: EventBridge Scheduler invokes the Lambda with {"action": "reconcile"}
# (adjoin.handler), which queues one task per configured account and served Region. Scheduler
# assumes its own role to invoke the function; the role trusts the service for schedules of this
# account only (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).

data "aws_iam_policy_document" "scheduler_trust" {
  count = var.reconcile.enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.reconcile.enabled ? 1 : 0

  name               = "${var.name_prefix}-reconcile-schedule"
  description        = "EventBridge Scheduler invokes the ${var.name_prefix} Lambda for a reconcile run"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust[0].json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  count = var.reconcile.enabled ? 1 : 0

  statement {
    sid       = "InvokeForReconcile"
    actions   = ["lambda:InvokeFunction"]
    resources = ["arn:${local.partition}:lambda:${local.region}:${var.account_id}:function:${local.function_name}"]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.reconcile.enabled ? 1 : 0

  name   = "invoke-reconcile"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler[0].json
}

resource "aws_scheduler_schedule" "reconcile" {
  #checkov:skip=CKV_AWS_297:The schedule's input is {"action":"reconcile","dryRun":...}: nothing secret to encrypt with a CMK.
  count = var.reconcile.enabled ? 1 : 0

  name                = "${var.name_prefix}-reconcile"
  description         = "Reconcile every configured account and Region of the AD join hub"
  schedule_expression = var.reconcile.schedule_expression

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this.arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({ action = "reconcile", dryRun = var.reconcile.dry_run })

    retry_policy {
      maximum_retry_attempts = 2
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
