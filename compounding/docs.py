"""README sections generated from the code (run `cog -r README.md`; CI checks they are current)."""

from __future__ import annotations

import click
from click.testing import CliRunner


def iter_commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    """Yield (path, command) for every command and group, depth first, sorted by name."""
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None:
            continue
        path = prefix + (name,)
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from iter_commands(cmd, click.Context(cmd, info_name=name, parent=ctx), path)


def all_commands():
    from .cli import cli

    ctx = click.Context(cli, info_name="compounding")
    return list(iter_commands(cli, ctx))


def command_reference() -> str:
    """`--help` of every command, as Markdown."""
    from .cli import cli

    runner = CliRunner()
    out = ["\n"]
    for path, _cmd in [((), None)] + all_commands():
        result = runner.invoke(cli, [*path, "--help"], prog_name="compounding", terminal_width=88)
        title = " ".join(("compounding",) + path)
        out.append(f"### `{title}`\n\n```\n{result.output.rstrip()}\n```\n\n")
    return "".join(out)


def formula_reference() -> str:
    """The formula file format, from the pydantic schema."""
    from .formulas import formula_schema

    schema = formula_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = ["\n| key | required | type | description |", "|---|---|---|---|"]

    def typ(prop):
        if "$ref" in prop:
            return "table `" + prop["$ref"].split("/")[-1] + "`"
        if "anyOf" in prop:
            return " or ".join(typ(p) for p in prop["anyOf"] if p.get("type") != "null")
        if prop.get("type") == "array":
            return "list of " + typ(prop.get("items", {}))
        if "enum" in prop:
            return " / ".join(f"`{v}`" for v in prop["enum"])
        if "const" in prop:
            return f"`{prop['const']}`"
        return prop.get("type", "value")

    def table(props, req):
        for key, prop in props.items():
            desc = prop.get("description", "")
            if not desc and "$ref" in prop:
                desc = defs.get(prop["$ref"].split("/")[-1], {}).get("description", "")
            ex = prop.get("examples")
            if ex:
                desc = (desc + " " if desc else "") + "e.g. `" + str(ex[0]) + "`"
            rows.append(f"| `{key}` | {'yes' if key in req else ''} | {typ(prop)} | "
                        f"{' '.join(desc.split())} |")

    table(schema["properties"], required)
    for name in sorted(defs):
        d = defs[name]
        if "properties" not in d:
            continue
        rows.append(f"| **`{name}`** | | table | {' '.join(d.get('description', '').split())} |")
        table({f"{name}.{k}": v for k, v in d["properties"].items()},
              {f"{name}.{k}" for k in d.get("required", [])})
    return "\n".join(rows) + "\n\n"


def schema_reference() -> str:
    """The database documentation for script authors (tables, views, queries), from the code;
    the full SQL stays in docs/schema.md and `compounding db schema`."""
    from .store.schema import schema_markdown

    text = schema_markdown()
    body = text.split("\n## ", 1)[1]          # drop the title and its first paragraph
    body = "## " + body.split("\n## Full schema", 1)[0]
    out = []
    for line in body.splitlines():
        out.append("#" + line if line.startswith("#") else line)  # one heading level down
    return "\n" + "\n".join(out).rstrip() + "\n\n"
