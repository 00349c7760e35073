# The Lambda that consumes the domain-join queue, its log group and its event source mapping.

locals {
  lambda_runtime      = "python3.12"
  lambda_architecture = "x86_64" # the zip's wheels (scripts/package_lambda.py)
  # The published Powertools for AWS Lambda (Python) v3 layer: one account per partition, two
  # in GovCloud, the runtime without its dot and the architecture in the name; see
  # https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/#lambda-layer
  powertools_layer_account = lookup(
    {
      "aws"        = "017000801446"
      "aws-cn"     = "498634801083"
      "aws-us-gov" = local.region == "us-gov-east-1" ? "165087284144" : "165093116878"
    },
    local.partition,
    "017000801446",
  )
  powertools_layer_arn = var.powertools_layer.enabled ? coalesce(
    var.powertools_layer.arn,
    "arn:${local.partition}:lambda:${local.region}:${local.powertools_layer_account}:layer:AWSLambdaPowertoolsPythonV3-${replace(local.lambda_runtime, ".", "")}-${local.lambda_architecture}:${var.powertools_layer.version}",
  ) : null
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.log_group_name
  retention_in_days = var.lambda_config.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:An SQS-triggered function: failed records return to the queue, whose redrive policy sends them to the module's DLQ.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the zip is built reproducibly and pinned by its hash.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is optional (lambda_config.tracing); PassThrough is the default.
  function_name                  = local.function_name
  description                    = "Joins EC2 instances to Active Directory and removes them on termination"
  role                           = aws_iam_role.lambda.arn
  runtime                        = local.lambda_runtime
  architectures                  = [local.lambda_architecture]
  layers                         = compact([local.powertools_layer_arn])
  handler                        = "adjoin.handler.lambda_handler"
  filename                       = var.lambda_zip_path
  source_code_hash               = var.lambda_zip_hash
  timeout                        = var.lambda_config.timeout
  memory_size                    = var.lambda_config.memory_size
  reserved_concurrent_executions = var.lambda_config.reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = merge({
      CONFIG_TABLE_NAME              = local.config_table_name
      STATE_TABLE_NAME               = aws_dynamodb_table.state.name
      HUB_ACCOUNT_ID                 = var.account_id
      QUEUE_URL                      = local.queue_url
      DLQ_URL                        = local.dlq_url
      SPOKE_ROLE_NAME                = local.spoke_role_name
      LINUX_JOIN_DOCUMENT            = local.linux_join_document
      WINDOWS_JOIN_DOCUMENT          = local.windows_join_document
      LEAVE_DOCUMENT                 = local.leave_document
      AD_TOOLS_HOST_TAG              = "${var.directory.ad_tools_host_tag.key}=${var.directory.ad_tools_host_tag.value}"
      DIRECTORY_ADAPTER              = var.directory.adapter
      LEAVE_ADAPTER                  = var.directory.leave_adapter
      DIRECTORY_REGION               = local.directory_region
      COMPUTER_NAME_PREFIX           = var.directory.computer_name_prefix
      TAG_COMPUTER_NAME              = tostring(var.directory.tag_computer_name)
      CONFIG_CACHE_TTL_SECONDS       = tostring(var.lambda_config.config_cache_ttl_seconds)
      RETRY_BASE_SECONDS             = tostring(var.lambda_config.retry_base_seconds)
      RETRY_MAX_SECONDS              = tostring(var.lambda_config.retry_max_seconds)
      OTP_KEY_ID                     = local.otp_key_alias
      SERVED_REGIONS                 = join(",", distinct(concat([local.region], sort(var.spoke_regions))))
      RECONCILE_GRACE_SECONDS        = tostring(var.reconcile.grace_period_minutes * 60)
      RECONCILE_MAX_DELETIONS        = tostring(var.reconcile.max_deletions)
      RECONCILE_MAX_DELETION_PERCENT = tostring(var.reconcile.max_deletion_percent)
      POWERTOOLS_SERVICE_NAME        = var.name_prefix
      POWERTOOLS_METRICS_NAMESPACE   = var.lambda_config.powertools_metrics_namespace
      LOG_LEVEL                      = var.lambda_config.log_level
      PARTITION                      = local.partition
      LIFECYCLE_HOOKS                = tostring(var.lifecycle_hooks.enabled)
      LIFECYCLE_FAILURE_RESULT       = var.lifecycle_hooks.failure_result
      LIFECYCLE_HEARTBEAT_TIMEOUT    = tostring(var.lifecycle_hooks.heartbeat_timeout)
      },
      # only when set: the directory of config items without directoryId
      var.directory.default_directory_id == null ? {} : { DEFAULT_DIRECTORY_ID = var.directory.default_directory_id },
    )
  }

  tracing_config {
    mode = var.lambda_config.tracing ? "Active" : "PassThrough"
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.directory_region == local.region
      error_message = "directory.region (${local.directory_region}) must be the hub's own Region (${local.region}) or null: the join password, the CA certificate parameters and the leave document live in the hub's Region. Deploy modules/hub in the directory's Region."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_sqs_queue.this,
    aws_sqs_queue.dlq,
    aws_iam_role_policy.lambda,
    aws_iam_role_policy.lambda_kms,
    aws_kms_alias.otp,
  ]
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = aws_sqs_queue.this.arn
  function_name                      = aws_lambda_function.this.arn
  enabled                            = var.lambda_config.event_source_mapping_enabled
  batch_size                         = var.lambda_config.batch_size
  maximum_batching_window_in_seconds = var.lambda_config.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.lambda_config.maximum_concurrency
  }
}
