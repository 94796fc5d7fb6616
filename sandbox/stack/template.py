"""Read template.yaml the way the local stack needs it: tables, functions, their routes and env.

Resources come from the deployed template itself so the local stack cannot drift from it. Only the
intrinsics our template uses for these properties are resolved (Ref, Sub, GetAtt on local names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into `{"Ref": "X"}` and friends."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def pattern(self) -> re.Pattern[str]:
        regex = re.escape(self.path)
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", regex)
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalTemplate:
    raw: dict[str, Any]
    names: dict[str, str]

    @property
    def resources(self) -> dict[str, Any]:
        return self.raw["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == kind}

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics against local names (table names, parameters, pseudo parameters)."""
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.names.get(arg, arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                lookup = {**self.names, **{k: self.resolve(v) for k, v in extra.items()}}
                return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(lookup.get(m.group(1), m.group(0))), text)
            if key == "Fn::GetAtt":
                return self.names.get(".".join(arg), ".".join(arg))
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            lid: self.resolve(res["Properties"]) for lid, res in self.of_type("AWS::DynamoDB::Table").items()
        }

    def functions(self) -> dict[str, Function]:
        globals_env = (
            self.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        found: dict[str, Function] = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            props = res["Properties"]
            env = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
            found[lid] = Function(
                lid,
                ROOT / props["CodeUri"],
                props["Handler"],
                {k: str(self.resolve(v)) for k, v in env.items()},
            )
        return found

    def routes(self) -> list[Route]:
        routes: list[Route] = []
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            for event in res["Properties"].get("Events", {}).values():
                if event.get("Type") == "HttpApi":
                    props = event["Properties"]
                    routes.append(Route(props.get("Method", "ANY").upper(), props["Path"], lid))
        # Specific routes before greedy ones, as API Gateway matches them.
        return sorted(routes, key=lambda r: (r.path.count("+"), -len(r.path)))

    def state_machines(self) -> dict[str, tuple[str, str]]:
        """Logical id → (name, definition with its substitutions applied)."""
        machines: dict[str, tuple[str, str]] = {}
        for lid, res in self.of_type("AWS::Serverless::StateMachine").items():
            props = res["Properties"]
            definition = (ROOT / props["DefinitionUri"]).read_text()
            for key, value in (props.get("DefinitionSubstitutions") or {}).items():
                definition = definition.replace("${" + key + "}", str(self.resolve(value)))
            machines[lid] = (self.names[f"{lid}.Name"], definition)
        return machines

    def buckets(self) -> list[str]:
        return [self.names[lid] for lid in self.of_type("AWS::S3::Bucket")]

    def secrets(self) -> list[str]:
        return [self.names[lid] for lid in self.of_type("AWS::SecretsManager::Secret")]


def local_template(
    stage: str = "local",
    region: str = "eu-central-1",
    account: str = "123456789012",
    path: Path = ROOT / "template.yaml",
) -> LocalTemplate:
    raw = load(path)
    names: dict[str, str] = {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": f"mango-bridge-{stage}",
    }
    for name, spec in raw.get("Parameters", {}).items():
        names[name] = str(spec.get("Default", ""))
    names["Stage"] = stage
    template = LocalTemplate(raw, names)
    prefix = f"arn:aws:{{}}:{region}:{account}:"
    for lid, res in raw["Resources"].items():
        props = res.get("Properties") or {}
        kind = res.get("Type", "")
        if kind == "AWS::Serverless::Function":
            name = template.resolve(props.get("FunctionName") or f"mango-bridge-{stage}-{lid}")
            names[lid] = name
            names[f"{lid}.Arn"] = prefix.format("lambda") + f"function:{name}"
        elif kind == "AWS::Serverless::StateMachine":
            name = template.resolve(props.get("Name") or f"mango-bridge-{stage}-{lid}")
            names[lid] = prefix.format("states") + f"stateMachine:{name}"
            names[f"{lid}.Name"] = name
        elif kind == "AWS::SecretsManager::Secret":
            names[lid] = template.resolve(props.get("Name") or f"mango-bridge/{stage}/{lid}")
        elif kind == "AWS::DynamoDB::Table":
            names[lid] = template.resolve(props.get("TableName") or f"mango-bridge-{stage}-{lid}")
        elif kind == "AWS::S3::Bucket":  # bucket names are lower case; CloudFormation generates one
            names[lid] = template.resolve(props.get("BucketName") or f"mango-bridge-{stage}-{lid}".lower())
            names[f"{lid}.Arn"] = f"arn:aws:s3:::{names[lid]}"
        else:
            names.setdefault(lid, f"mango-bridge-{stage}-{lid}")
        names.setdefault(f"{lid}.Arn", names[lid])
    return LocalTemplate(raw, names)
