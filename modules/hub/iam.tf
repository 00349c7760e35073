# The Lambda's execution role: least privilege, every statement scoped to this module's resources.

# Lambda's page gives the trust policy without naming a context key of the AssumeRole it makes
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html): the IfExists
# form admits it and still refuses another account's source when one is sent.
data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = local.lambda_role_name
  description        = "Execution role of the ${var.name_prefix} Lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  # The spoke role in the organization's accounts (aws:ResourceOrgID) or in the listed accounts
  # only: a role of that name in any other account is not assumed, whatever it trusts.
  statement {
    sid       = "AssumeSpokeRoles"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${local.spoke_role_name}"]
    condition {
      test     = "StringEquals"
      variable = var.organization_id != null ? "aws:ResourceOrgID" : "aws:ResourceAccount"
      values   = var.organization_id != null ? [var.organization_id] : var.allowed_account_ids
    }
  }

  # The config table is the operators': the Lambda only reads it.
  statement {
    sid       = "ConfigTableRead"
    actions   = ["dynamodb:GetItem"]
    resources = [local.config_table_arn]
  }

  # TransactWriteItems is authorized as the UpdateItem of each item, TransactGetItems (the
  # leaves' read) as the GetItem of each:
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
  statement {
    sid       = "StateTable"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [local.state_table_arn]
  }

  statement {
    sid       = "Queue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [local.queue_arn]
  }

  # The reconciler (adjoin.reconciler): the accounts of the config table, one account's state
  # rows through the by-account index, and its tasks and EC2 events on the domain-join queue.
  statement {
    sid       = "ReconcileReadAccounts"
    actions   = ["dynamodb:Scan"]
    resources = [local.config_table_arn]
  }

  statement {
    sid       = "ReconcileReadState"
    actions   = ["dynamodb:Query"]
    resources = ["${local.state_table_arn}/index/by-account"]
  }

  statement {
    sid       = "ReconcileQueueWork"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = [local.dlq_arn]
  }

  # Only the ldap adapter reads the join password (the AD tools host reads it itself).
  dynamic "statement" {
    for_each = local.reads_join_password ? [1] : []
    content {
      sid       = "JoinPassword"
      actions   = local.join_password_is_param ? ["ssm:GetParameter"] : ["secretsmanager:GetSecretValue"]
      resources = [local.join_password_is_param ? local.join_password_arn : "${local.join_password_arn}*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.directory.ldap_ca_cert_parameters) > 0 ? [1] : []
    content {
      sid       = "LdapCaCertificates"
      actions   = ["ssm:GetParameter"]
      resources = [for name in var.directory.ldap_ca_cert_parameters : "arn:${local.partition}:ssm:${local.region}:${var.account_id}:parameter/${trimprefix(name, "/")}"]
    }
  }

  dynamic "statement" {
    for_each = length(local.directory_ids) > 0 ? [1] : []
    content {
      sid       = "DirectoryServiceCreateComputer"
      actions   = ["ds:CreateComputer"]
      resources = [for id in local.directory_ids : "arn:${local.partition}:ds:${local.directory_region}:${var.account_id}:directory/${id}"]
    }
  }

  dynamic "statement" {
    for_each = local.create_leave_document ? [1] : []
    content {
      sid       = "LeaveDocument"
      actions   = ["ssm:SendCommand"]
      resources = ["arn:${local.partition}:ssm:${local.directory_region}:${var.account_id}:document/${local.leave_document}"]
    }
  }

  dynamic "statement" {
    for_each = local.create_leave_document ? [1] : []
    content {
      sid       = "LeaveOnAdToolsHost"
      actions   = ["ssm:SendCommand"]
      resources = ["arn:${local.partition}:ec2:${local.directory_region}:${var.account_id}:instance/*"]
      condition {
        test     = "StringEquals"
        variable = "ssm:resourceTag/${var.directory.ad_tools_host_tag.key}"
        values   = [var.directory.ad_tools_host_tag.value]
      }
    }
  }

  dynamic "statement" {
    for_each = local.create_leave_document ? [1] : []
    content {
      # Neither supports resource-level permissions. ListCommandInvocations: the replacement of an
      # earlier join's computer object waits for its leave command (issue 8).
      sid       = "FindAdToolsHost"
      actions   = ["ec2:DescribeInstances", "ssm:ListCommandInvocations"]
      resources = ["*"]
    }
  }

  # join_hub_instances: what modules/spoke-account's role allows, in this account only.
  dynamic "statement" {
    for_each = var.join_hub_instances ? [1] : []
    content {
      sid       = "HubInstancesDescribe"
      actions   = ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:ListCommandInvocations"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    # the adComputerName tag is opt-in (directory.tag_computer_name)
    for_each = var.join_hub_instances && var.directory.tag_computer_name ? [1] : []
    content {
      sid       = "HubInstancesTagComputerName"
      actions   = ["ec2:CreateTags"]
      resources = ["arn:${local.partition}:ec2:*:${var.account_id}:instance/*"]
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = ["adComputerName"]
      }
      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.join_hub_instances ? [1] : []
    content {
      sid     = "HubInstancesSendJoinDocuments"
      actions = ["ssm:SendCommand"]
      resources = [
        "arn:${local.partition}:ssm:*:${var.account_id}:document/${local.linux_join_document}",
        "arn:${local.partition}:ssm:*:${var.account_id}:document/${local.windows_join_document}",
        "arn:${local.partition}:ec2:*:${var.account_id}:instance/*",
      ]
    }
  }

  # the spoke role's lifecycle statement (modules/spoke-account iam.tf), in this account only
  dynamic "statement" {
    for_each = var.join_hub_instances && var.lifecycle_hooks.enabled ? [1] : []
    content {
      sid       = "HubInstancesCompleteLifecycleActions"
      actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      resources = ["arn:${local.partition}:autoscaling:*:${var.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${var.lifecycle_hooks.group_tag.key}"
        values   = [var.lifecycle_hooks.group_tag.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.lambda_config.tracing ? [1] : []
    content {
      sid       = "XRay"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name_prefix}-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# The key's ARN is only known after apply: its grant lives in its own policy so the main one
# above is fully known at plan time.
data "aws_iam_policy_document" "lambda_kms" {
  statement {
    # Decrypt: the queue's messages, the SecureString or secret; GenerateDataKey: DLQ sends.
    sid       = "HubKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }

  # otp.tf: the derivation key of the one-time passwords
  statement {
    sid       = "OneTimePasswordKey"
    actions   = ["kms:GenerateMac"]
    resources = [aws_kms_key.otp.arn]
  }
}

resource "aws_iam_role_policy" "lambda_kms" {
  name   = "${var.name_prefix}-lambda-kms"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_kms.json
}

# ENI management for the optional VPC attachment (ldap adapter): AWS's managed policy.
resource "aws_iam_role_policy_attachment" "vpc" {
  count      = var.vpc_config == null ? 0 : 1
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}
