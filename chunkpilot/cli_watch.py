"""``chunkpilot watch ADDRESS``: the computations a scheduler's ClusterWatch diagnosed (issue 16).

Added to the command group by :mod:`chunkpilot.cli`; results on stdout, the watch's own
trouble on stderr.
"""

from __future__ import annotations

import json

import click

from chunkpilot.errors import InvalidArgumentError


@click.command(name="watch")
@click.argument("address")
@click.option("--follow", is_flag=True,
              help="Keep printing computations as the scheduler finishes them (Ctrl-C stops).")
@click.option("--interval", type=float, default=None,
              help="Seconds between polls with --follow [default: 2].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the JSON document; with --follow, one computation per line.")
def watch_cluster(address: str, follow: bool, interval: float | None, as_json: bool) -> None:
    """Computations the scheduler at ADDRESS diagnosed: when, tasks, chunks, verdicts, fix.

    ADDRESS is the scheduler (tcp://HOST:PORT) or its dashboard (http://HOST:PORT). The
    scheduler must run chunkpilot's ClusterWatch: dask scheduler --preload chunkpilot.plugin.
    """
    # the CLI loads a command's modules when it runs
    from chunkpilot.commands.cluster_watch import check_interval, computations, fetch
    from chunkpilot.commands.cluster_watch import follow as follow_computations
    from chunkpilot.report.computations import print_computations
    from chunkpilot.report.console import new_console

    if interval is not None and not follow:
        raise InvalidArgumentError(
            f"Expected --interval with --follow (it sets the seconds between polls). Got "
            f"--interval {interval:g} alone: add --follow, or drop --interval.")
    interval = check_interval(2.0 if interval is None else interval)
    console = new_console()
    if not follow:
        payload = fetch(address)
        if as_json:
            click.echo(json.dumps(payload))
            return
        print_computations(console, computations(payload),
                           title=f"Computations on {address}, newest first")
        if not payload.get("enabled", True):
            new_console(stderr=True).print(
                f"The watch switched itself off: {payload.get('error')}", style="red")
        return
    for i, summary in enumerate(follow_computations(address, interval_s=interval)):
        if as_json:
            click.echo(json.dumps(summary.to_dict()))
        else:
            print_computations(console, [summary], header=i == 0)
