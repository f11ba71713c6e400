#!/usr/bin/env python3
"""Runs `vllm chat-template` over every fixture case and compares with jinja2's output.

Each case of Tests/VLLMTokenizersTests/Fixtures/chat-templates/cases.json is replayed through the
command line: a temporary model folder holds a tokenizer_config.json with the template's special
tokens, the template goes through --chat-template, the conversation through --messages (as an
object, so extra variables travel with it) and --tools. strftime_now is pinned in the fixtures,
so the command runs with SOURCE_DATE_EPOCH set to the same instant (and date_string="26 Jul 2024"
for good measure).
Usage: python3 scripts/check_chat_template_cli.py [path/to/vllm]
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "VLLMTokenizersTests", "Fixtures", "chat-templates")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build-chat", "debug", "vllm")
    data = json.load(open(os.path.join(FIX, "cases.json"), encoding="utf-8"))
    ok = bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in data["cases"]:
            if case.get("continue_final_message"):
                continue  # not a CLI option
            t = data["templates"][case["template"]]
            conv = data["conversations"][case["conversation"]]
            model = os.path.join(tmp, case["template"])
            os.makedirs(model, exist_ok=True)
            with open(os.path.join(model, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump(t["special_tokens"], f, ensure_ascii=False)
            payload = {"messages": conv["messages"], "date_string": "26 Jul 2024"}
            payload.update(conv.get("extra", {}))
            msg_path = os.path.join(tmp, "messages.json")
            with open(msg_path, "w", encoding="utf-8") as f:
                json.dump(payload, f, ensure_ascii=False)
            args = [binary, "chat-template", "--model", model, "--messages", msg_path,
                    "--chat-template", os.path.join(FIX, "templates", t["file"])]
            if conv.get("tools") is not None:
                tools_path = os.path.join(tmp, "tools.json")
                with open(tools_path, "w", encoding="utf-8") as f:
                    json.dump(conv["tools"], f, ensure_ascii=False)
                args += ["--tools", tools_path]
            if case["add_generation_prompt"]:
                args.append("--add-generation-prompt")
            env = dict(os.environ, SOURCE_DATE_EPOCH="1722002709")  # the fixtures' fixed clock
            p = subprocess.run(args, capture_output=True, env=env)
            label = f'{case["template"]} / {case["conversation"]} / agp={case["add_generation_prompt"]}'
            if "output" in case:
                good = p.returncode == 0 and p.stdout.decode("utf-8") == case["output"]
            else:
                good = p.returncode != 0 and p.stdout == b""
            if good:
                ok += 1
            else:
                bad += 1
                print("MISMATCH", label, p.returncode, p.stderr.decode()[:200])
    print(f"{ok} cases match, {bad} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
