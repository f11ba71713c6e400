enum VLLMCPUPlaceholder {}
