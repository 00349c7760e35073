# The join documents, in every Region. Parameters reach the scripts only as environment
# variables (interpolationType ENV_VAR), each constrained by an allowedPattern; the scripts are
# embedded verbatim (docs/contracts.md).

locals {
  ipv4_pattern = "^(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))?$"

  join_parameters = {
    computerName = {
      type              = "String"
      description       = "Computer name (<= 15 characters, derived from the instance id)"
      interpolationType = "ENV_VAR"
      allowedPattern    = "^[A-Za-z0-9-]{1,15}$"
    }
    oneTimePassword = {
      type              = "String"
      description       = "One-time password of the pre-created computer account"
      interpolationType = "ENV_VAR"
      allowedPattern    = "^[A-Za-z0-9._~+=-]{16,64}$"
    }
    domainName = {
      type              = "String"
      description       = "The domain's DNS name"
      interpolationType = "ENV_VAR"
      allowedPattern    = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    }
    computerOU = {
      type              = "String"
      description       = "Distinguished name of the OU for the computer object, or empty"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = "^([A-Za-z]+=[^\"'\\r\\n]+)?$"
    }
    adGroupName = {
      type              = "String"
      description       = "AD group allowed to log in, or empty (no change to the login restriction)"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = "^[A-Za-z0-9 ._-]{0,64}$"
    }
    adSudoGroupName = {
      type              = "String"
      description       = "AD group whose members get sudo (Linux) or local Administrators (Windows), or empty"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = "^([A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?)?$"
    }
    bootWaitSeconds = {
      type              = "String"
      description       = "Seconds to wait at most for the instance's own boot work (cloud-init, EC2Launch v2) before joining; 0 = do not wait"
      default           = "600"
      interpolationType = "ENV_VAR"
      allowedPattern    = "^[0-9]{1,4}$"
    }
    dnsIP1 = {
      type              = "String"
      description       = "First DNS server (IPv4) or empty"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = local.ipv4_pattern
    }
    dnsIP2 = {
      type              = "String"
      description       = "Second DNS server (IPv4) or empty"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = local.ipv4_pattern
    }
    domainController = {
      type              = "String"
      description       = "DNS name (or IPv4 address) of the domain controller that holds the pre-created account, or empty: the join uses it, before the account has replicated"
      default           = ""
      interpolationType = "ENV_VAR"
      allowedPattern    = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,126})?$"
    }
  }

  join_documents = {
    linux = {
      name   = local.linux_join_document
      action = "aws:runShellScript"
      script = file("${path.module}/../../scripts/linux/join.sh")
    }
    windows = {
      name   = local.windows_join_document
      action = "aws:runPowerShellScript"
      script = file("${path.module}/../../scripts/windows/join.ps1")
    }
  }
}

resource "aws_ssm_document" "join" {
  for_each = local.join_documents

  name            = each.value.name
  document_type   = "Command"
  document_format = "JSON"
  content = jsonencode({
    schemaVersion = "2.2"
    description   = "Join this ${each.key} instance to Active Directory with a one-time password (ad-join)"
    parameters    = local.join_parameters
    mainSteps = [{
      action = each.value.action
      name   = "join"
      inputs = { runCommand = [each.value.script] }
    }]
  })
  tags = var.tags
}
