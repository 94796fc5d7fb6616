#!/usr/bin/env bash
# Validate the deployable artefacts without AWS and without Docker:
#   1. cfn-lint on template.yaml                       (dev venv: $VENV, default .venv)
#   2. statelint on every statemachines/*.asl.json     (dev venv)
#   3. AWS SAM CLI in its own venv ($SAM_VENV, default .venv-sam; created on demand, because
#      aws-sam-cli pins its own boto3 and must stay out of the dev venv)
#   4. sam validate --lint
#   5. SAM transform, offline (samtranslator from the SAM venv), then cfn-lint on its output for
#      dev and prod: catches what SAM-level linting misses (e.g. a Lambda runtime that does not exist)
#   6. sam build (arm64 layer: pip fetches aarch64 wheels from PyPI; needs a python3.12)
#   7. build artefacts: the layer carries mango_bridge and an aarch64 pydantic-core
#
# Usage: bash scripts/validate.sh [-v|--verbose] [--skip-sam]
#   -v          stream every tool's output (default: quiet; a failing step prints its log's tail)
#   --skip-sam  only steps 1-2 (no SAM venv, no build)
# Environment: VENV, SAM_VENV, SAM_CLI_VERSION, PYTHON (to create the SAM venv), PYTHON312
# (a python3.12 interpreter for sam build), VERBOSE=1.
# Nothing here talks to AWS: dummy credentials, no profile, telemetry and update checks off.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

VENV="${VENV:-.venv}"
SAM_VENV="${SAM_VENV:-.venv-sam}"
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
REGION="eu-central-1"
VERBOSE="${VERBOSE:-0}"
SKIP_SAM=0
for arg in "$@"; do
  case "$arg" in
    -v | --verbose) VERBOSE=1 ;;
    --skip-sam) SKIP_SAM=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "validate: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

LOG_DIR="$ROOT/.aws-sam/validate-logs"
mkdir -p "$LOG_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mango-validate.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

FAILED=()
T_ALL=$(date +%s.%N)

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

# step NAME CMD... : run CMD quietly (or streamed with -v), print PASS/FAIL with the time taken.
step() {
  local name="$1"; shift
  local log="$LOG_DIR/${name//[^A-Za-z0-9_.-]/_}.log"
  local t0; t0=$(date +%s.%N)
  local rc
  if [[ "$VERBOSE" == 1 ]]; then
    echo "---- $name: $*"
    "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  else
    "$@" >"$log" 2>&1; rc=$?
  fi
  local took; took=$(elapsed "$t0")
  if [[ $rc -eq 0 ]]; then
    printf 'PASS  %-28s %8s\n' "$name" "$took"
  else
    printf 'FAIL  %-28s %8s  (exit %d; log: %s)\n' "$name" "$took" "$rc" "${log#"$ROOT"/}"
    if [[ "$VERBOSE" != 1 ]]; then tail -n 40 "$log" | sed 's/^/      | /'; fi
    FAILED+=("$name")
  fi
  return "$rc"
}

fail_now() {  # fail_now NAME MESSAGE: a check that cannot even start
  printf 'FAIL  %-28s %8s  %s\n' "$1" "-" "$2"
  FAILED+=("$1")
}

skip() { printf 'SKIP  %-28s %8s  %s\n' "$1" "-" "$2"; }

# ------------------------------------------------------------------------------------ 1. cfn-lint
if [[ -x "$VENV/bin/cfn-lint" ]]; then
  step "cfn-lint" "$VENV/bin/cfn-lint" --regions "$REGION" -- template.yaml
else
  fail_now "cfn-lint" "no $VENV/bin/cfn-lint: create the dev venv first (python3 -m venv $VENV && $VENV/bin/pip install -e '.[dev]')"
fi

# ------------------------------------------------------------------------------------ 2. statelint
# DefinitionSubstitutions placeholders (${LoadCallFunctionArn}, ${AWS::Region}, ...) are not URIs;
# lint a copy in which each placeholder is replaced by a well-formed ARN, so the real checks still run.
shopt -s nullglob
ASL_FILES=(statemachines/*.asl.json)
shopt -u nullglob
if [[ ${#ASL_FILES[@]} -eq 0 ]]; then
  skip "statelint" "no statemachines/*.asl.json yet: nothing to lint"
elif [[ ! -x "$VENV/bin/statelint" ]]; then
  fail_now "statelint" "no $VENV/bin/statelint: create the dev venv first ($VENV/bin/pip install -e '.[dev]')"
else
  substitute() {  # substitute SRC DST
    "$VENV/bin/python" - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
pseudo = {"AWS::Partition": "aws", "AWS::Region": "eu-central-1", "AWS::AccountId": "123456789012",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "mango-bridge-validate"}
def repl(m):
    name = m.group(1)
    return pseudo.get(name) or f"arn:aws:lambda:eu-central-1:123456789012:function:{name.replace('::', '-')}"
open(sys.argv[2], "w", encoding="utf-8").write(re.sub(r"\$\{([A-Za-z0-9_.:]+)\}", repl, text))
PY
  }
  lint_asl() {  # lint_asl FILE
    local copy; copy="$WORK/$(basename "$1")"
    substitute "$1" "$copy" && "$VENV/bin/statelint" "$copy"
  }
  for f in "${ASL_FILES[@]}"; do
    step "statelint $(basename "$f")" lint_asl "$f"
  done
fi

if [[ "$SKIP_SAM" == 1 ]]; then
  skip "sam (venv, validate, build)" "--skip-sam"
else
  # ---------------------------------------------------------------------------------- 3. SAM venv
  # Everything sam runs below: offline, no telemetry, no update check, dummy credentials.
  SAM_APP_DIR="$(cd "$(dirname "$SAM_VENV")" && pwd)/$(basename "$SAM_VENV")/sam-app-dir"
  sam_env() {
    mkdir -p "$SAM_APP_DIR"
    # lastVersionCheck = now: SAM CLI skips its weekly PyPI version check.
    printf '{"telemetryEnabled": false, "lastVersionCheck": %s}\n' "$(date +%s)" >"$SAM_APP_DIR/metadata.json"
    env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN \
      SAM_CLI_TELEMETRY=0 SAM_CLI_APP_DIR="$SAM_APP_DIR" \
      AWS_ACCESS_KEY_ID=AKIAVALIDATEONLY0000 AWS_SECRET_ACCESS_KEY=validate-only-not-a-secret \
      AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION" \
      AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
      "$@"
  }

  sam_ready() {
    [[ -x "$SAM_VENV/bin/sam" ]] &&
      [[ "$(SAM_CLI_TELEMETRY=0 "$SAM_VENV/bin/python" -c 'import samcli; print(samcli.__version__)' 2>/dev/null)" == "$SAM_CLI_VERSION" ]]
  }
  install_sam() {
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || { echo "no $py on PATH to create $SAM_VENV"; return 1; }
    rm -rf "$SAM_VENV"
    if "$py" -m venv "$SAM_VENV" &&
      "$SAM_VENV/bin/pip" install --disable-pip-version-check -q "aws-sam-cli==$SAM_CLI_VERSION" &&
      sam_ready; then
      return 0
    fi
    echo "aws-sam-cli $SAM_CLI_VERSION did not install into $SAM_VENV"
    rm -rf "$SAM_VENV"
    return 1
  }
  SAM_OK=1
  if sam_ready; then
    printf 'PASS  %-28s %8s  (aws-sam-cli %s, cached)\n' "sam-cli venv" "-" "$SAM_CLI_VERSION"
  else
    step "sam-cli venv (install)" install_sam || SAM_OK=0
  fi

  if [[ "$SAM_OK" == 1 ]]; then
    # -------------------------------------------------------------------------- 4. sam validate
    step "sam validate --lint" sam_env "$SAM_VENV/bin/sam" validate --lint \
      --template-file template.yaml --region "$REGION"

    # -------------------------------------------------------------------------- 5. SAM transform
    # What CloudFormation's AWS::Serverless transform will do, run locally; local code paths are
    # swapped for S3 URIs (as `sam deploy` does) and managed policies are not looked up in IAM.
    sam_transform() {
      sam_env "$SAM_VENV/bin/python" - template.yaml "$LOG_DIR" <<'PY'
import copy, json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
for resource in template.get("Resources", {}).values():
    props = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(props.get(key), str):
            props[key] = f"s3://validate-bucket/{key}"

class OfflinePolicies:
    def load(self):
        return {}

for stage in ("dev", "prod"):
    out = transform(copy.deepcopy(template), {"Stage": stage, "AlarmEmail": "ops@example.com"}, OfflinePolicies())
    types = sorted({r["Type"] for r in out["Resources"].values()})
    print(f"Stage={stage}: {len(out['Resources'])} resources: {', '.join(types)}")
    path = f"{sys.argv[2]}/template.transformed.{stage}.json"
    json.dump(out, open(path, "w", encoding="utf-8"), indent=1, default=str)
PY
    }
    if step "sam transform (offline)" sam_transform; then
      # Lint what CloudFormation will really receive (Lambda runtimes, IAM, API Gateway v2 ...),
      # which the SAM-level lint above does not check. Errors only: SAM's own output has warnings.
      CFN_LINT="$VENV/bin/cfn-lint"
      [[ -x "$CFN_LINT" ]] || CFN_LINT="$SAM_VENV/bin/cfn-lint"
      step "cfn-lint (transformed)" "$CFN_LINT" --regions "$REGION" --non-zero-exit-code error -- \
        "$LOG_DIR/template.transformed.dev.json" "$LOG_DIR/template.transformed.prod.json"
    fi

    # -------------------------------------------------------------------------- 6. sam build
    find_python312() {
      local c candidates=()
      [[ -n "${PYTHON312:-}" ]] && candidates+=("$PYTHON312")
      local root="${PYENV_ROOT:-$HOME/.pyenv}"
      command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null || echo "$root")"
      local found=("$root"/versions/3.12*/bin/python3.12)  # newest patch release first
      [[ -e "${found[0]}" ]] && while IFS= read -r c; do candidates+=("$c"); done < <(
        printf '%s\n' "${found[@]}" | sort -rV)
      c="$(command -v python3.12 2>/dev/null)" && candidates+=("$c")
      candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12)
      for c in "${candidates[@]}"; do
        # The pyenv shim is on PATH even when 3.12 is not selected: actually run each candidate.
        if [[ -x "$c" ]] && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null &&
          "$c" -m pip --version >/dev/null 2>&1; then
          echo "$c"
          return 0
        fi
      done
      return 1
    }
    # ------------------------------------------------------------------------ 7. artefacts
    check_artefacts() {
      local layer=.aws-sam/build/SharedLayer/python ok=0
      for f in "$layer/mango_bridge/__init__.py" .aws-sam/build/IngestFunction/app.py \
        .aws-sam/build/ApiFunction/app.py .aws-sam/build/template.yaml; do
        if [[ -e "$f" ]]; then echo "ok      $f"; else echo "MISSING $f"; ok=1; fi
      done
      local so
      so="$(ls "$layer"/pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so 2>/dev/null)"
      if [[ -n "$so" ]]; then echo "ok      $so"; else
        echo "MISSING aarch64 pydantic-core in $layer/pydantic_core:"; ls "$layer/pydantic_core" 2>&1; ok=1
      fi
      local pyc
      pyc="$(ls "$layer"/mango_bridge/__pycache__/__init__.cpython-312.pyc 2>/dev/null)"
      if [[ -n "$pyc" ]]; then echo "ok      $pyc (bytecode in the layer)"; else
        echo "MISSING bytecode: $layer/mango_bridge/__pycache__/__init__.cpython-312.pyc"; ok=1
      fi
      du -sh "$layer" 2>/dev/null
      return $ok
    }

    if PY312="$(find_python312)"; then
      # sam looks `python3.12` up on PATH: give it exactly this one, nothing else.
      PYBIN="$WORK/bin"
      mkdir -p "$PYBIN" && ln -sf "$PY312" "$PYBIN/python3.12"
      sam_build() {
        PATH="$PYBIN:$PATH" sam_env "$SAM_VENV/bin/sam" build \
          --template-file template.yaml --build-dir .aws-sam/build --region "$REGION" \
          --cached --parallel
      }
      if step "sam build" sam_build; then
        step "build artefacts (arm64)" check_artefacts
      fi
    else
      fail_now "sam build" "no python3.12 found (tried \$PYTHON312, pyenv versions 3.12.*, PATH, /usr/bin): install one (e.g. pyenv install 3.12) or set PYTHON312=/path/to/python3.12"
    fi
  fi
fi

echo "----  total $(elapsed "$T_ALL")"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "validate: FAILED: ${FAILED[*]}"
  exit 1
fi
echo "validate: all checks passed"
