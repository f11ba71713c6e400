print("vllm")
