"""TRL's GRPOTrainer on grpo's reward mix: the shipped tiny model, two-digit sums, on the CPU, offline.

    pip install -e ".[bench]"              # TRL (and Math-Verify): not a dependency of grpo itself
    python examples/trl_grpo.py [--steps 10] [--mix examples/mix.toml]

The mix (a TOML file or a list of [[rewards]] tables) becomes TRL's reward_funcs and reward_weights in
one call; `math` still runs in grpo's worker pool with its time limit. Unsloth trains through the same
GRPOTrainer: pass it the same two lists. Offline: the model ships with grpo-core.
"""
import argparse
from importlib.resources import files

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from grpo_core.tasks.arithmetic import generate
from grpo_rewards.integrations.trl import trl_rewards

MIX = [
    {"use": "math"},
    {"use": "format.regex", "weight": 0.1, "options": {"pattern": "^<answer>-?[0-9]+</answer>$"}},
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--mix", help="a TOML file with [[rewards]] (default: math + an answer-format regex)")
    parser.add_argument("--output-dir", default="runs/trl-tiny-arith")
    args = parser.parse_args()

    # Built first, so the verifier's worker processes fork before the model is loaded.
    rewards = trl_rewards(args.mix or MIX)
    model_dir = str(files("grpo_core") / "assets" / "tiny-arith")
    # A conversational dataset: TRL hands the rewards chat-format completions, which the mix accepts.
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": row["prompt"]}], "answer": row["answer"]}
                                 for row in generate("train", seed=0, n=512)])
    config = GRPOConfig(output_dir=args.output_dir, max_steps=args.steps, per_device_train_batch_size=32,
                        num_generations=8, max_completion_length=8, learning_rate=1e-3,
                        lr_scheduler_type="constant", reward_weights=rewards.reward_weights, logging_steps=5,
                        save_strategy="no", report_to="none", disable_tqdm=True, seed=0,
                        use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available())
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                          processing_class=AutoTokenizer.from_pretrained(model_dir),
                          reward_funcs=rewards.reward_funcs, args=config, train_dataset=dataset,
                          peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    with rewards:  # stops the worker processes at the end
        trainer.train()
    rewards.report()  # per reward: scored, unscorable, errors, timeouts
    first, last = trainer.state.log_history[0], trainer.state.log_history[-2]
    print(f"reward/mean: first logged {first.get('reward'):.3f}, last logged {last.get('reward'):.3f}")


if __name__ == "__main__":
    main()
