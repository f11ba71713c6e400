public enum VLLMTokenizersPlaceholder {}
