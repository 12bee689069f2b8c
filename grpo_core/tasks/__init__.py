"""Built-in generated tasks, registered through the same hook a third-party plugin uses."""
from grpo_rewards import hookimpl


@hookimpl
def register_tasks(register):
    from . import arithmetic

    register("arithmetic", arithmetic.generate)
