"""`seamline match`: fit the weights of an entity's probabilistic match rule on its canonical records."""

from __future__ import annotations

from typing import Annotated

import typer

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load

match_app = typer.Typer(help="Probabilistic matching: fit its weights.", no_args_is_help=True)


@match_app.command("train")
def match_train(
    entity: Annotated[str, typer.Option("--entity", help="The entity whose rule is fitted, e.g. customer.")],
    sample: Annotated[int, typer.Option("--sample", min=2, help="Fit on at most N live canonical records.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and of the random pairs.")] = 0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Fit m and u of each comparison by EM on a sample of the live records of canonical.<entity>, and print the
    rule as YAML to paste under processor.identity.<entity>; it starts from the entity's `probabilistic` rule (its
    comparisons, levels, blocks and thresholds), or from the default one."""
    import random

    import yaml

    from processors.match_training import fit
    from seamline.canonical_state import canonical_live
    from seamline.match_config import ProbabilisticRule
    from seamline.processor_config import ENTITIES

    loaded = load(config)
    if entity not in ENTITIES:
        console.print(f"[red]no entity {entity!r}[/red]: use one of {', '.join(ENTITIES)}")
        raise typer.Exit(2)
    configured = loaded.processor.rules(entity).probabilistic if loaded.processor else None
    if configured is None and entity != "customer":
        console.print(
            f"[red]no probabilistic rule for {entity}[/red]: the default comparisons are the customer's; add "
            f"processor.identity.{entity}.probabilistic with the {entity}'s comparisons, then train it"
        )
        raise typer.Exit(2)
    records = canonical_live(loaded.kafka, entity, loaded.cipher())
    chosen = random.Random(seed).sample(records, min(sample, len(records)))
    try:
        fitted = fit(chosen, configured or ProbabilisticRule(), seed=seed)
    except ValueError as exc:
        console.print(f"[red]cannot fit on {len(chosen)} {entity} record(s)[/red]: {exc}")
        raise typer.Exit(2) from exc
    rule = fitted.rule.model_dump(exclude_defaults=False)
    for comparison in rule["comparisons"]:
        if comparison["kind"] == "exact":
            del comparison["levels"]
        if not comparison["common"]:
            del comparison["common"]
    console.print(
        f"fitted on {fitted.records} {entity} record(s): {fitted.blocked_pairs} pairs in common blocks, "
        f"{fitted.match_share:.1%} of them matches, {fitted.iterations} EM iteration(s)"
        + (f"; kept as configured (no pair agrees on them): {', '.join(fitted.kept)}" if fitted.kept else "")
    )
    print(f"# processor.identity.{entity}.probabilistic, fitted by seamline match train")
    print(yaml.safe_dump({"probabilistic": rule}, sort_keys=False, allow_unicode=True, default_flow_style=None), end="")
