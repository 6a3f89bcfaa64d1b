"""Chat: conversations, memory, prompt templates and LLM providers behind one streaming
interface (`provider.LLMProvider`); `service.ChatService` is the entry point."""
