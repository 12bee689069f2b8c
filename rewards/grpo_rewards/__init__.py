"""grpo-rewards: the reward SDK. Depends on pluggy and the standard library only."""
import pluggy

hookimpl = pluggy.HookimplMarker("grpo_rewards")

__all__ = ["hookimpl"]
