enum VLLMCorePlaceholder {}
