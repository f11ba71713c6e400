enum VLLMEnginePlaceholder {}
