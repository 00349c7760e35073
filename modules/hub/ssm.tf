# The leave document run on the AD tools host (leave adapter ad_tools_host). The host reads the
# join user's password itself from adJoinUserPwParam: only its name travels as a parameter.

locals {
  leave_document_content = {
    schemaVersion = "2.2"
    description   = "Remove an AD computer object (ad-join, AD tools host)"
    parameters = {
      computerName = {
        type              = "String"
        description       = "Computer names (<= 15 characters each), comma-separated: 1 to 100"
        interpolationType = "ENV_VAR"
        allowedPattern    = "^[A-Za-z0-9-]{1,15}(,[A-Za-z0-9-]{1,15}){0,99}$"
      }
      domainName = {
        type              = "String"
        description       = "The domain's DNS name"
        interpolationType = "ENV_VAR"
        allowedPattern    = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
      }
      adJoinUserName = {
        type              = "String"
        description       = "The delegated join user (user@domain or DOMAIN\\user)"
        interpolationType = "ENV_VAR"
        allowedPattern    = "^[A-Za-z0-9._@\\\\-]{1,256}$"
      }
      adJoinUserPwParam = {
        type              = "String"
        description       = "Name of the SSM parameter or ARN of the secret holding the join user's password (never the password)"
        interpolationType = "ENV_VAR"
        allowedPattern    = "^[A-Za-z0-9_./:+=@-]{1,2048}$"
      }
      computerOU = {
        type              = "String"
        description       = "Distinguished name of the OU, or empty"
        default           = ""
        interpolationType = "ENV_VAR"
        allowedPattern    = "^([A-Za-z]+=[^\"'\\r\\n]+)?$"
      }
    }
    mainSteps = [{
      action = "aws:runPowerShellScript"
      name   = "leave"
      inputs = { runCommand = [file("${path.module}/../../scripts/windows/leave.ps1")] }
    }]
  }
}

resource "aws_ssm_document" "leave" {
  count = local.create_leave_document ? 1 : 0

  name            = local.leave_document
  document_type   = "Command"
  document_format = "JSON"
  content         = jsonencode(local.leave_document_content)
  tags            = var.tags
}
