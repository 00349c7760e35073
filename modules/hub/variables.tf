variable "account_id" {
  description = "The hub (security) account id. Taken as an input so a plan needs no call to AWS."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "alarms" {
  description = "CloudWatch alarms (DLQ depth, Lambda errors, JoinFailed, Rejected, ReconcileCapped): create a KMS-encrypted SNS topic for them and/or send them to existing actions (ARNs)."
  type = object({
    create_sns_topic = optional(bool, true)
    actions          = optional(list(string), [])
  })
  default  = {}
  nullable = false
}

variable "allowed_account_ids" {
  description = "Accounts allowed to put events on the hub bus. Exactly one of organization_id and allowed_account_ids must be set."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must hold 12-digit AWS account ids."
  }
}

variable "directory" {
  description = "Directory settings passed to the Lambda: default join adapter (ds|ldap), default leave adapter (ldap|ad_tools_host|none), Directory Service directory ids the Lambda may call CreateComputer on, the default directory id for config items without directoryId (null: none; the Lambda may use it too), the directory Region (null: this Region), the AD tools host tag, the computer name prefix, whether to tag each joined instance with adComputerName (tag_computer_name, default false: one EC2 CreateTags per instance, and the permission for it on hub instances), and the names of the SSM parameters holding the domain controllers' CA certificate (config items' ldapCaCertParam) the Lambda may read."
  type = object({
    adapter                 = optional(string, "ds")
    leave_adapter           = optional(string, "ad_tools_host")
    directory_ids           = optional(list(string), [])
    default_directory_id    = optional(string)
    region                  = optional(string)
    ad_tools_host_tag       = optional(object({ key = string, value = string }), { key = "adToolsHost", value = "true" })
    computer_name_prefix    = optional(string, "EC2")
    tag_computer_name       = optional(bool, false)
    ldap_ca_cert_parameters = optional(list(string), [])
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["ds", "ldap"], var.directory.adapter)
    error_message = "directory.adapter must be ds or ldap."
  }
  validation {
    condition     = var.directory.adapter != "ds" || length(var.directory.directory_ids) > 0 || var.directory.default_directory_id != null
    error_message = "directory.adapter = \"ds\" needs directory.directory_ids or directory.default_directory_id: the Lambda may call Directory Service CreateComputer only on those directories, so every join would be AccessDenied."
  }
  validation {
    condition     = contains(["ldap", "ad_tools_host", "none"], var.directory.leave_adapter)
    error_message = "directory.leave_adapter must be ldap, ad_tools_host or none."
  }
  validation {
    condition     = alltrue([for id in var.directory.directory_ids : can(regex("^d-[0-9a-f]{10}$", id))])
    error_message = "directory.directory_ids must be Directory Service ids (d-0123456789)."
  }
  validation {
    condition     = var.directory.default_directory_id == null || can(regex("^d-[0-9a-f]{10}$", coalesce(var.directory.default_directory_id, "x")))
    error_message = "directory.default_directory_id must be a Directory Service id (d-0123456789) or null."
  }
  validation {
    condition     = var.directory.region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", coalesce(var.directory.region, "x")))
    error_message = "directory.region must be a Region name such as us-east-1."
  }
  validation {
    condition     = can(regex("^[A-Z0-9]{1,4}$", var.directory.computer_name_prefix)) && !can(regex("^[0-9]+$", var.directory.computer_name_prefix))
    error_message = "directory.computer_name_prefix must be 1-4 characters of [A-Z0-9], not all digits."
  }
}

variable "dlq_redrive_principal_arns" {
  description = "IAM role ARNs (in this account) allowed to redrive the dead-letter queue into the domain-join queue (`ad-join dlq redrive`, or SQS StartMessageMoveTask, which sends with the caller's permissions). Every other sender without one of the module's rules or topics as source is denied."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.dlq_redrive_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "dlq_redrive_principal_arns must hold IAM role ARNs."
  }
}

variable "existing_config_table_name" {
  description = "Name of an existing config table (key accountId, for example the seed's) to use instead of creating one. null creates the table."
  type        = string
  default     = null
}

variable "join_hub_instances" {
  description = "Also join the hub account's own instances: the Lambda acts in this account with its own role (no role is assumed for HUB_ACCOUNT_ID), so it gets the spoke role's permissions here. Deploy modules/spoke-account in this account (create_account_resources = false) for the rules and documents."
  type        = bool
  default     = false
  nullable    = false
}

variable "join_password_parameter" {
  description = "Where the join user's password lives in the hub: an SSM SecureString parameter name (/path/name) or a Secrets Manager secret ARN. Only the name: the password never enters Terraform."
  type        = string

  validation {
    condition     = can(regex("^(/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", var.join_password_parameter))
    error_message = "join_password_parameter must be an SSM parameter name or a Secrets Manager secret ARN."
  }
}

variable "lambda_config" {
  description = "The Lambda and its event source mapping: batch size, batching window (s), maximum concurrency, timeout (s), memory (MiB), reserved concurrency (null: none), X-Ray tracing, log level, log retention (days), whether the event source mapping is enabled, retry backoff and config cache settings."
  type = object({
    batch_size                   = optional(number, 100)
    batching_window_seconds      = optional(number, 5)
    maximum_concurrency          = optional(number, 5)
    timeout                      = optional(number, 120)
    memory_size                  = optional(number, 256)
    reserved_concurrency         = optional(number)
    tracing                      = optional(bool, false)
    log_level                    = optional(string, "INFO")
    log_retention_days           = optional(number, 365)
    event_source_mapping_enabled = optional(bool, true)
    retry_base_seconds           = optional(number, 10)
    retry_max_seconds            = optional(number, 3600)
    config_cache_ttl_seconds     = optional(number, 60)
    powertools_metrics_namespace = optional(string, "ADJoin")
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.lambda_config.batch_size >= 1 && var.lambda_config.batch_size <= 10000
    error_message = "lambda_config.batch_size must be between 1 and 10000."
  }
  validation {
    condition     = var.lambda_config.batching_window_seconds >= 0 && var.lambda_config.batching_window_seconds <= 300 && (var.lambda_config.batch_size <= 10 || var.lambda_config.batching_window_seconds >= 1)
    error_message = "lambda_config.batching_window_seconds must be 0-300, and at least 1 when batch_size is above 10."
  }
  validation {
    condition     = var.lambda_config.maximum_concurrency >= 2 && var.lambda_config.maximum_concurrency <= 1000
    error_message = "lambda_config.maximum_concurrency must be between 2 and 1000."
  }
  validation {
    condition     = var.lambda_config.timeout >= 1 && var.lambda_config.timeout <= 900
    error_message = "lambda_config.timeout must be between 1 and 900 seconds."
  }
  validation {
    condition     = var.lambda_config.memory_size >= 128 && var.lambda_config.memory_size <= 10240
    error_message = "lambda_config.memory_size must be between 128 and 10240 MiB."
  }
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.lambda_config.log_level)
    error_message = "lambda_config.log_level must be DEBUG, INFO, WARNING or ERROR."
  }
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.lambda_config.log_retention_days)
    error_message = "lambda_config.log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ... 3653)."
  }
}

variable "lambda_zip_hash" {
  description = "Base64-encoded SHA-256 of the Lambda zip (filebase64sha256 of lambda_zip_path); a change redeploys the code."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{43}=$", var.lambda_zip_hash))
    error_message = "lambda_zip_hash must be a base64-encoded SHA-256 (44 characters)."
  }
}

variable "lambda_zip_path" {
  description = "Path of the Lambda zip built by `make package` (build/adjoin-lambda.zip)."
  type        = string
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks (modules/spoke-account lifecycle_hooks): enabled lets a join command's status complete the launch action it was for (one state read per status); failure_result completes a launch whose join failed (CONTINUE, or ABANDON: the group replaces the instance); heartbeat_timeout is the shortest HeartbeatTimeout of the hooks (30-7200 s). With join_hub_instances, the Lambda may complete the actions of this account's groups tagged group_tag."
  type = object({
    enabled           = optional(bool, false)
    failure_result    = optional(string, "CONTINUE")
    heartbeat_timeout = optional(number, 3600)
    group_tag = optional(object({
      key   = string
      value = string
    }), { key = "adJoinLifecycle", value = "true" })
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.lifecycle_hooks.failure_result)
    error_message = "lifecycle_hooks.failure_result must be CONTINUE or ABANDON."
  }

  validation {
    condition     = var.lifecycle_hooks.heartbeat_timeout >= 30 && var.lifecycle_hooks.heartbeat_timeout <= 7200 && floor(var.lifecycle_hooks.heartbeat_timeout) == var.lifecycle_hooks.heartbeat_timeout
    error_message = "lifecycle_hooks.heartbeat_timeout must be a whole number of seconds from 30 to 7200 (PutLifecycleHook's HeartbeatTimeout)."
  }
}

variable "name_prefix" {
  description = "Prefix of every name (bus, queues, tables, function, roles, documents). Spoke modules must use the same value."
  type        = string
  default     = "ad-join"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 characters of [a-z0-9-], starting with a letter."
  }
}

variable "organization_id" {
  description = "AWS Organizations id (o-xxxxxxxxxx) whose accounts may put events on the hub bus. Exactly one of organization_id and allowed_account_ids must be set."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", coalesce(var.organization_id, "x")))
    error_message = "organization_id must look like o-xxxxxxxxxx."
  }
}

variable "powertools_layer" {
  description = "Powertools for AWS Lambda (Python), which the zip from `make package` leaves out: by default the published layer for this Region (python3.12, x86_64) at `version`; `arn` for another layer (for example one published from build/powertools-layer.zip); `enabled = false` when the zip bundles Powertools (scripts/package_lambda.py --powertools bundle)."
  type = object({
    enabled = optional(bool, true)
    arn     = optional(string)
    version = optional(number, 27)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.powertools_layer.arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", coalesce(var.powertools_layer.arn, "x")))
    error_message = "powertools_layer.arn must be a Lambda layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)."
  }
  validation {
    condition     = var.powertools_layer.version >= 1 && floor(var.powertools_layer.version) == var.powertools_layer.version
    error_message = "powertools_layer.version must be a whole number of at least 1."
  }
}

variable "queue_delay_seconds" {
  description = "Seconds the domain-join queue holds each new message before the first attempt (0-900). The Lambda waits for readiness itself (it retries while the SSM agent is not online, and the join scripts wait for the instance's own boot work), so a short delay is enough; 300 restores the seed's blind wait."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.queue_delay_seconds >= 0 && var.queue_delay_seconds <= 900 && floor(var.queue_delay_seconds) == var.queue_delay_seconds
    error_message = "queue_delay_seconds must be a whole number between 0 and 900."
  }
}

variable "reconcile" {
  description = "The reconciler: its schedule (an EventBridge Scheduler expression; enabled = false turns the schedule off, on-demand runs still work), dry_run (scheduled runs only report), the grace period before a row or object of a gone instance is removed (minutes), and the deletion cap per account and Region (count, and percent of the objects the run knows; 0 = no percent limit)."
  type = object({
    enabled              = optional(bool, true)
    schedule_expression  = optional(string, "rate(1 hour)")
    dry_run              = optional(bool, false)
    grace_period_minutes = optional(number, 60)
    max_deletions        = optional(number, 10)
    max_deletion_percent = optional(number, 50)
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.reconcile.schedule_expression))
    error_message = "reconcile.schedule_expression must be rate(N unit) or cron(...), e.g. rate(1 hour)."
  }
  validation {
    condition     = var.reconcile.grace_period_minutes >= 0 && var.reconcile.grace_period_minutes <= 10080
    error_message = "reconcile.grace_period_minutes must be between 0 and 10080 (a week)."
  }
  validation {
    condition     = var.reconcile.max_deletions >= 0 && var.reconcile.max_deletions <= 10000 && var.reconcile.max_deletion_percent >= 0 && var.reconcile.max_deletion_percent <= 100
    error_message = "reconcile.max_deletions must be 0-10000 and reconcile.max_deletion_percent 0-100."
  }
}

variable "spoke_regions" {
  description = "Other Regions where modules/spoke-region runs in this account; the queue and key policies admit their SNS topics (ARNs computed from name_prefix)."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.spoke_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    error_message = "spoke_regions must hold Region names such as eu-west-1."
  }
}

variable "tags" {
  description = "Tags merged into every taggable resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "vpc_config" {
  description = "Attach the Lambda to the directory's VPC (needed by the ldap adapter): subnet ids and security group ids. null: no VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}
