from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "webapp.reviews"
    label = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        from webapp.mlops.services import on_live_version_changed
        from webapp.reviews.training import rescore_on_promotion

        on_live_version_changed(rescore_on_promotion)

        from webapp.common.readiness import WORKER, warmer_register
        from webapp.reviews.warmup import warm_sentiment_models

        warmer_register("sentiment models", warm_sentiment_models, roles={WORKER})
