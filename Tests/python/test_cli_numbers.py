"""`vllm generate`'s numeric sampling flags take values that start with a dash, as vLLM's do
(`--top-k -1` keeps every token, penalties may be negative), and a number out of range gets the
engine's own message rather than the argument parser's "missing value"."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "Models", "stories260K")


def generate(*flags):
    binary = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
    done = subprocess.run([binary, "generate", "--model", MODEL, "--device", "cpu", "--prompt", "Once upon", *flags],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


def test_negative_values_reach_the_sampler():
    code, output = generate("--max-tokens", "8", "--temperature", "0", "--top-k", "-1", "--presence-penalty", "-0.5",
                            "--frequency-penalty", "-0.25")
    assert code == 0, output
    assert "Engine steps: 8" in output, output


def test_a_negative_count_gets_the_range_message():
    code, output = generate("--max-tokens", "-1")
    assert code != 0
    assert "invalid value for 'max_tokens': must be at least 1, got -1" in output, output


def test_a_flag_where_a_number_belongs_is_named():
    code, output = generate("--max-tokens", "--temperature", "0")
    assert code != 0
    assert "The value '--temperature' is invalid for '--max-tokens <max-tokens>'" in output, output
