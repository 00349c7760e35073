# Remove terminated instances' computer objects from Active Directory.
#
# Runs on the AD tools host in the hub as the content of the <prefix>ad-leave SSM document
# (aws:runPowerShellScript), for the ad_tools_host directory adapter. Its parameters arrive as
# environment variables (interpolationType ENV_VAR, see docs/contracts.md): SSM_computerName,
# SSM_domainName, SSM_adJoinUserName, SSM_adJoinUserPwParam, SSM_computerOU. SSM_computerName
# holds one name or several, comma-separated (the Lambda sends one command per batch of
# terminations, at most 100 names): each is removed in turn with one credential and one domain
# controller.
#
# SSM_adJoinUserPwParam is the NAME of the join user's password: an SSM SecureString parameter
# (name or ARN) or a Secrets Manager secret ARN. The host reads the password itself with its
# instance role (AWS Tools for PowerShell), so the password never travels in a command
# parameter and never reaches the command output.
#
# Exit codes (several names: every name is tried, and the first failure's code is the exit code):
#   0 every name removed, or already absent; 1 unexpected error; 2 bad parameters; 3 a required module is
#   missing (ActiveDirectory, AWS Tools); 4 no domain controller reachable; 5 the password
#   could not be read; 6 the removal failed (rights, ambiguous name).
# Messages go to standard error; the password is never printed.

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$ExitBadParameters = 2
$ExitToolsMissing = 3
$ExitUnreachable = 4
$ExitPasswordUnreadable = 5
$ExitRemovalFailed = 6

$NamePattern = '^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$'
$DomainPattern = '^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
$OuPattern = '^(?:(?:OU|CN)=(?:[^,\\]|\\.)+,)+(?:DC=(?:[^,\\]|\\.)+,)*DC=(?:[^,\\]|\\.)+$'
$UserPattern = '^[A-Za-z0-9 ._@\\-]{1,256}$'
$ParameterNamePattern = '^(?:/?[A-Za-z0-9_.-]+)(?:/[A-Za-z0-9_.-]+)*$'
$ParameterArnPattern = '^arn:aws[a-z-]*:ssm:([a-z0-9-]+):[0-9]{12}:parameter/.+$'
$SecretArnPattern = '^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):[0-9]{12}:secret:.+$'

function Write-Log {
    param([Parameter(Mandatory = $true)][string]$Message)
    [Console]::Error.WriteLine("ad-join leave: $Message")
}

function Exit-WithCode {
    param(
        [Parameter(Mandatory = $true)][int]$Code,
        [Parameter(Mandatory = $true)][string]$Message
    )
    Write-Log -Message $Message
    exit $Code
}

function ConvertTo-TrimmedValue {
    param([AllowNull()][string]$Value)
    if ($null -eq $Value) {
        return ''
    }
    return $Value.Trim()
}

function Test-Parameters {
    param([Parameter(Mandatory = $true)][hashtable]$Parameters)
    $problems = New-Object -TypeName System.Collections.Generic.List[string]
    $names = @($Parameters.ComputerName -split ',')
    if ($names.Count -gt 100) {
        $problems.Add('computerName holds at most 100 names')
    }
    foreach ($name in $names) {
        if ($name -notmatch $NamePattern) {
            $problems.Add('each computerName must be 1-15 letters, digits or hyphens, with a letter')
            break
        }
    }
    if ($Parameters.DomainName -notmatch $DomainPattern) {
        $problems.Add('domainName must be a DNS domain name such as corp.example.com')
    }
    if ($Parameters.UserName -notmatch $UserPattern) {
        $problems.Add('adJoinUserName must be user, user@domain or DOMAIN\user')
    }
    $source = $Parameters.PwSource
    if ($source -notmatch $ParameterNamePattern -and $source -notmatch $ParameterArnPattern -and $source -notmatch $SecretArnPattern) {
        $problems.Add('adJoinUserPwParam must be an SSM parameter name or ARN, or a Secrets Manager secret ARN')
    }
    if ($Parameters.ComputerOU -ne '' -and $Parameters.ComputerOU -notmatch $OuPattern) {
        $problems.Add('computerOU must be empty or a distinguished name such as OU=Servers,DC=corp,DC=example,DC=com')
    }
    return , $problems
}

function Assert-Command {
    param(
        [Parameter(Mandatory = $true)][string]$Name,
        [Parameter(Mandatory = $true)][string]$Provider
    )
    if ($null -eq (Get-Command -Name $Name -ErrorAction SilentlyContinue)) {
        Exit-WithCode -Code $ExitToolsMissing -Message "$Name not found: install $Provider on the AD tools host"
    }
}

function Read-JoinPassword {
    # Returns the join user's password as a SecureString; the plain text stays in this function.
    param([Parameter(Mandatory = $true)][string]$Source)
    try {
        if ($Source -match $SecretArnPattern) {
            Assert-Command -Name 'Get-SECSecretValue' -Provider 'AWS Tools for PowerShell (AWS.Tools.SecretsManager)'
            $secretValue = Get-SECSecretValue -SecretId $Source -Region $Matches[1]
            $plainPassword = $secretValue.SecretString
        }
        else {
            Assert-Command -Name 'Get-SSMParameter' -Provider 'AWS Tools for PowerShell (AWS.Tools.SimpleSystemsManagement)'
            $regionArguments = @{}
            if ($Source -match $ParameterArnPattern) {
                $regionArguments['Region'] = $Matches[1]
            }
            $parameterValue = Get-SSMParameter -Name $Source -WithDecryption $true @regionArguments
            $plainPassword = $parameterValue.Value
        }
    }
    catch {
        # The AWS error names the parameter and the reason, never the value.
        Exit-WithCode -Code $ExitPasswordUnreadable -Message "cannot read the join user's password from ${Source}: $($_.Exception.Message)"
    }
    if ([string]::IsNullOrEmpty($plainPassword)) {
        Exit-WithCode -Code $ExitPasswordUnreadable -Message "the join user's password in $Source is empty"
    }
    $securePassword = ConvertTo-SecureString -String $plainPassword -AsPlainText -Force
    Remove-Variable -Name 'plainPassword'
    return $securePassword
}

function Get-DomainControllerName {
    param([Parameter(Mandatory = $true)][string]$DomainName)
    # One writable domain controller for the search and the removal, so both see the same data.
    try {
        $controller = Get-ADDomainController -DomainName $DomainName -Discover -Writable -ErrorAction Stop
        return [string]@($controller.HostName)[0]
    }
    catch {
        Exit-WithCode -Code $ExitUnreachable -Message "no domain controller found for ${DomainName}: $($_.Exception.Message)"
    }
}

function Remove-ComputerObject {
    # Returns 0 (removed or absent) or the exit code of the failure; never exits itself.
    param(
        [Parameter(Mandatory = $true)][string]$ComputerName,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$ComputerOU,
        [Parameter(Mandatory = $true)][string]$Server,
        [Parameter(Mandatory = $true)][System.Management.Automation.PSCredential]$Credential
    )
    # The name is validated (letters, digits, hyphens), so it is safe inside the LDAP filter.
    $searchArguments = @{
        LDAPFilter  = ('(&(objectCategory=computer)(sAMAccountName={0}$))' -f $ComputerName)
        Server      = $Server
        Credential  = $Credential
        ErrorAction = 'Stop'
    }
    if ($ComputerOU -ne '') {
        $searchArguments['SearchBase'] = $ComputerOU
        $searchArguments['SearchScope'] = 'Subtree'
    }
    try {
        $found = @(Get-ADComputer @searchArguments)
    }
    catch {
        Write-Log -Message "search for $ComputerName failed on ${Server}: $($_.Exception.Message)"
        return $ExitUnreachable
    }
    if ($found.Count -eq 0) {
        Write-Log -Message "computer $ComputerName already absent"
        return 0
    }
    if ($found.Count -gt 1) {
        Write-Log -Message "$($found.Count) computer objects named $ComputerName; none removed"
        return $ExitRemovalFailed
    }
    $distinguishedName = [string]$found[0].DistinguishedName
    try {
        # Computer objects can have children (BitLocker keys, service connection points).
        Remove-ADObject -Identity $distinguishedName -Recursive -Confirm:$false -Server $Server -Credential $Credential -ErrorAction Stop
    }
    catch {
        Write-Log -Message "removal of $distinguishedName failed: $($_.Exception.Message)"
        return $ExitRemovalFailed
    }
    Write-Log -Message "removed $distinguishedName"
    return 0
}

function Invoke-Main {
    $parameters = @{
        ComputerName = ConvertTo-TrimmedValue -Value $env:SSM_computerName
        DomainName   = ConvertTo-TrimmedValue -Value $env:SSM_domainName
        UserName     = ConvertTo-TrimmedValue -Value $env:SSM_adJoinUserName
        PwSource     = ConvertTo-TrimmedValue -Value $env:SSM_adJoinUserPwParam
        ComputerOU   = ConvertTo-TrimmedValue -Value $env:SSM_computerOU
    }
    $problems = Test-Parameters -Parameters $parameters
    if ($problems.Count -gt 0) {
        Exit-WithCode -Code $ExitBadParameters -Message ('bad parameters: ' + ($problems -join '; '))
    }
    $computerNames = @($parameters.ComputerName.ToUpperInvariant() -split ',')
    $domainName = $parameters.DomainName
    $userName = $parameters.UserName
    if ($userName -notmatch '[@\\]') {
        $userName = "$userName@$domainName"
    }

    Assert-Command -Name 'Get-ADComputer' -Provider 'the ActiveDirectory module (RSAT-AD-PowerShell)'
    $server = Get-DomainControllerName -DomainName $domainName
    $securePassword = Read-JoinPassword -Source $parameters.PwSource
    $credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList $userName, $securePassword
    $exitCode = 0
    foreach ($computerName in $computerNames) {
        $code = Remove-ComputerObject -ComputerName $computerName -ComputerOU $parameters.ComputerOU -Server $server -Credential $credential
        if ($code -ne 0 -and $exitCode -eq 0) {
            $exitCode = $code
        }
    }
    exit $exitCode
}

try {
    Invoke-Main
}
catch {
    Exit-WithCode -Code 1 -Message "unexpected error: $($_.Exception.Message) (line $($_.InvocationInfo.ScriptLineNumber))"
}
