from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.catalog.selectors import faq_by_category, product_get, products_by_category
from webapp.stores.models import Store
from webapp.stores.selectors import store_get_by_slug


def _store_or_404(slug: str) -> Store:
    store = store_get_by_slug(slug=slug)
    if store is None:
        raise Http404("No such store")
    return store


def storefront_home(request: HttpRequest, store_slug: str) -> HttpResponse:
    store = _store_or_404(store_slug)
    context = {"store": store, "categories": products_by_category(store=store)}
    return render(request, "storefront/home.html", context)


def storefront_product(request: HttpRequest, store_slug: str, sku: str) -> HttpResponse:
    store = _store_or_404(store_slug)
    product = product_get(store=store, sku=sku)
    if product is None:
        raise Http404("No such product")
    return render(request, "storefront/product.html", {"store": store, "product": product})


def storefront_faq(request: HttpRequest, store_slug: str) -> HttpResponse:
    store = _store_or_404(store_slug)
    context = {"store": store, "faq_groups": faq_by_category(store=store)}
    return render(request, "storefront/faq.html", context)
