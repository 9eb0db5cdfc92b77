from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from mnistsite.api_common import api_not_found
from recognizer import urls as recognizer_urls
from training import urls as training_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include(recognizer_urls.api_urls)),
    path("api/", include(training_urls.api_urls)),
    # Any other /api/ address (`/api/batches/abc`): the API's JSON 404. The schema and docs pages
    # are left out, so that Django still redirects /api/schema to /api/schema/.
    re_path(r"^api/(?!schema|docs|redoc)", api_not_found),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The browsable API's own login and logout; its login template is the site's (templates/rest_framework).
    path("api-auth/", include("rest_framework.urls")),
    path("", include(recognizer_urls.legacy)),
    path("", include(recognizer_urls.pages)),
    path("", include(training_urls.pages)),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
