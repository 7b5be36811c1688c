from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "webapp.chat"
    label = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from webapp.chat import warmup
        from webapp.common.readiness import WEB, warmer_register

        warmer_register("encoder and chat helpers", warmup.warm_inference, roles={WEB})
        warmer_register("intent models", warmup.warm_intent_models, roles={WEB})
        warmer_register("search indexes", warmup.warm_search_indexes, roles={WEB})
