"""Review of stored predictions: thumbnails, filters, bulk review actions, an accuracy summary."""

from django import forms
from django.contrib import admin, messages
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from recognizer.models import TRUE_LABEL_CHOICES, Kind, LabelSource, Prediction
from recognizer.selectors import CORRECT, predictions_accuracy_summary
from recognizer.services import (
    prediction_label_clear,
    prediction_review,
    prediction_review_number,
    predictions_mark_correct,
    predictions_review,
)

DIGIT_CHOICES = [(str(d), str(d)) for d in range(10)]


class DigitFilter(admin.SimpleListFilter):
    title = "predicted digit"
    parameter_name = "digit"

    def lookups(self, request, model_admin):
        return DIGIT_CHOICES

    def queryset(self, request, queryset):
        if self.value() in dict(DIGIT_CHOICES):
            return queryset.filter(prediction=int(self.value()))
        return queryset


class ReviewedFilter(admin.SimpleListFilter):
    """Reviewed by a person; a label that came with a batch is not a review."""

    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(label_source=LabelSource.REVIEW)
        if self.value() == "no":
            return queryset.exclude(label_source=LabelSource.REVIEW)
        return queryset


class LabelSourceFilter(admin.SimpleListFilter):
    title = "label source"
    parameter_name = "label_source"

    def lookups(self, request, model_admin):
        return [("review", "Review by staff"), ("batch", "Label from a batch"), ("none", "No label")]

    def queryset(self, request, queryset):
        sources = {"review": LabelSource.REVIEW, "batch": LabelSource.BATCH, "none": LabelSource.NONE}
        if self.value() in sources:
            return queryset.filter(label_source=sources[self.value()])
        return queryset


class CorrectFilter(admin.SimpleListFilter):
    title = "correct"
    parameter_name = "correct"

    def lookups(self, request, model_admin):
        return [("yes", "Correct"), ("no", "Wrong"), ("unreviewed", "No true label")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(true_label__isnull=False).filter(CORRECT)
        if self.value() == "no":
            # A rejection of a real digit counts as wrong, a rejection of "not a digit" as right.
            return queryset.filter(true_label__isnull=False).exclude(CORRECT)
        if self.value() == "unreviewed":
            return queryset.filter(true_label__isnull=True)
        return queryset


class TrueLabelForm(forms.Form):
    true_label = forms.TypedChoiceField(
        choices=TRUE_LABEL_CHOICES, coerce=int, widget=forms.RadioSelect, label="True digit"
    )


class PredictionAdminForm(forms.ModelForm):
    """A true number is digits only (or empty: not reviewed / not a number)."""

    class Meta:
        model = Prediction
        fields = ["true_label", "true_text"]

    def clean_true_text(self):
        text = (self.cleaned_data.get("true_text") or "").strip()
        if text and not (text.isascii() and text.isdigit()):
            raise forms.ValidationError("Type the digits of the number, 0-9 only (e.g. 2026).")
        return text


def image_tag(url: str, *, size: int, alt: str, pixelated: bool = False):
    style = f"width:{size}px;height:{size}px;object-fit:contain;border:1px solid #ccc;"
    style += "image-rendering:pixelated;background:#000;" if pixelated else "background:#fff;"
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" style="{}" loading="lazy">', url, alt, size, size, style
    )


def accuracy_summary(queryset) -> dict:
    """The accuracy panel: human reviews, and apart from them the labels that came with batches."""
    return {
        **predictions_accuracy_summary(queryset=queryset, label_source=LabelSource.REVIEW),
        "batch": predictions_accuracy_summary(queryset=queryset, label_source=LabelSource.BATCH),
    }


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_thumb",
        "input_thumb",
        "answer",
        "confidence_percent",
        "rejected",
        "is_reviewed",
        "true_answer",
        "kind",
        "label_source",
        "source",
        "model_version",
        "created",
    ]
    list_display_links = ["id", "answer"]
    list_filter = [
        "kind",
        DigitFilter,
        "rejected",
        ReviewedFilter,
        LabelSourceFilter,
        CorrectFilter,
        "model_version",
        "source",
        ("created", admin.DateFieldListFilter),
    ]
    date_hierarchy = "created"
    search_fields = ["original_name", "reason", "text"]
    search_help_text = "Search by id, file name, number read or rejection reason."
    list_select_related = ["model_version"]
    list_per_page = 50
    actions = ["mark_correct", "set_true_label"]
    form = PredictionAdminForm
    number_fields = ["images", "number_digits", "true_text", "answer", "confidence_percent", "rejected", "reason"]
    fields = [
        "images",
        "probability_chart",
        "true_label",
        "label_source",
        "answer",
        "confidence_percent",
        "no_digit_percent",
        "uncertainty",
        "rejected",
        "reason",
        "source",
        "original_name",
        "owner",
        "model_version",
        "created",
        "reviewed_by",
        "reviewed_at",
        "timings",
    ]
    readonly_fields = [f for f in fields if f != "true_label"] + ["number_digits"]

    def get_fields(self, request, obj=None):
        """A number is reviewed with its true text, a digit with its true label."""
        if obj is not None and obj.kind == Kind.NUMBER:
            return self.number_fields + [f for f in self.fields if f not in self.number_fields and f != "true_label"]
        return self.fields

    def get_queryset(self, request):
        has_input = ExpressionWrapper(Q(model_input__isnull=False), output_field=BooleanField())
        return super().get_queryset(request).defer("model_input").annotate(has_input=has_input)

    def has_add_permission(self, request):
        return False  # predictions come from recognising images, not from a form

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lstrip("#")
        if term.isdigit():  # an id, or digits in a file name
            matches = Q(pk=int(term)) | Q(original_name__icontains=term) | Q(reason__icontains=term)
            return queryset.filter(matches), False
        return super().get_search_results(request, queryset, search_term)

    # --- columns ---------------------------------------------------------------------

    @admin.display(description="original")
    def original_thumb(self, obj):
        if not obj.original:
            return "–"
        return image_tag(reverse("prediction-original", args=[obj.pk]), size=48, alt=f"original {obj.pk}")

    @admin.display(description="28×28")
    def input_thumb(self, obj):
        if not getattr(obj, "has_input", obj.model_input is not None):
            return "–"
        url = reverse("prediction-input-png", args=[obj.pk]) + "?size=56"
        return image_tag(url, size=48, alt=f"model input {obj.pk}", pixelated=True)

    @admin.display(description="prediction", ordering="prediction")
    def answer(self, obj):
        if obj.rejected:
            return format_html('<span title="{}">rejected</span>', obj.reason)
        return obj.text if obj.kind == Kind.NUMBER else obj.prediction

    @admin.display(description="true answer")
    def true_answer(self, obj):
        if obj.kind == Kind.NUMBER:
            return obj.true_text or "–"
        return "–" if obj.true_label is None else obj.get_true_label_display()

    @admin.display(description="digits")
    def number_digits(self, obj):
        if not obj.digits:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td><b>{}</b></td><td>{}%</td><td>{}</td></tr>",
            (
                (
                    "?" if d["digit"] is None else d["digit"],
                    f"{100.0 * d['confidence']:.1f}",
                    " ".join(map(str, d["box"])),
                )
                for d in obj.digits
            ),
        )
        return format_html(
            '<table id="number-digits"><thead><tr><th>digit</th><th>confidence</th><th>box x y w h</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="confidence", ordering="confidence")
    def confidence_percent(self, obj):
        return f"{100.0 * obj.confidence:.1f}%"

    @admin.display(description="'not a digit' probability")
    def no_digit_percent(self, obj):
        return f"{100.0 * obj.no_digit_prob:.1f}%"

    @admin.display(description="timings")
    def timings(self, obj):
        return f"preprocessing {obj.preprocess_ms:.1f} ms, inference {obj.inference_ms:.2f} ms"

    @admin.display(description="reviewed", boolean=True, ordering="reviewed_at")
    def is_reviewed(self, obj):
        return obj.label_source == LabelSource.REVIEW

    @admin.display(description="images")
    def images(self, obj):
        parts = []
        if obj.original:
            parts.append(image_tag(reverse("prediction-original", args=[obj.pk]), size=160, alt="original upload"))
        if getattr(obj, "has_input", obj.model_input is not None):
            url = reverse("prediction-input-png", args=[obj.pk]) + "?size=168"
            parts.append(image_tag(url, size=168, alt="28×28 model input", pixelated=True))
        if not parts:
            return "–"
        return format_html(
            '<div style="display:flex;gap:1rem;align-items:center">{}</div>',
            format_html_join("", "{}", ((p,) for p in parts)),
        )

    @admin.display(description="probabilities")
    def probability_chart(self, obj):
        probs = list(obj.probs or [])[:10]
        if not probs:
            return "–"
        rows = format_html_join(
            "",
            '<div style="display:flex;align-items:center;gap:.5rem;margin:1px 0">'
            '<b style="width:1rem;text-align:right">{}</b>'
            '<span style="display:inline-block;width:240px;height:12px;background:#eee">'
            '<span style="display:block;height:12px;width:{}%;background:{}"></span></span>'
            '<span style="width:4rem;text-align:right">{}%</span></div>',
            (
                (digit, f"{100.0 * p:.1f}", "#0b5cad" if digit == obj.prediction else "#888", f"{100.0 * p:.1f}")
                for digit, p in enumerate(probs)
            ),
        )
        return format_html('<div class="prob-chart" id="prob-chart">{}</div>', rows)

    # --- saving and actions ----------------------------------------------------------

    def save_model(self, request, obj, form, change):
        if obj.kind == Kind.NUMBER and "true_text" in form.changed_data:
            if obj.true_text:
                prediction_review_number(prediction=obj, true_text=obj.true_text, reviewer=request.user)
            else:
                obj.reviewed_by, obj.reviewed_at, obj.label_source = None, None, ""
                obj.save(update_fields=["true_text", "reviewed_by", "reviewed_at", "label_source"])
            return
        if "true_label" not in form.changed_data:
            return
        if obj.true_label is None:
            prediction_label_clear(prediction=obj)  # an emptied field takes back a review, or a batch's label
        else:
            prediction_review(prediction=obj, true_label=obj.true_label, reviewer=request.user)

    @admin.action(description="Mark as correct (true label = prediction)")
    def mark_correct(self, request, queryset):
        updated = predictions_mark_correct(queryset=queryset, reviewer=request.user)
        skipped = queryset.count() - updated
        message = f"Marked {updated} prediction{'s' if updated != 1 else ''} as correct."
        if skipped:
            message += f" {skipped} left alone: no answer to confirm."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Set true label…")
    def set_true_label(self, request, queryset):
        form = TrueLabelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            label = form.cleaned_data["true_label"]
            count = predictions_review(queryset=queryset, true_label=label, reviewer=request.user)
            name = dict(TRUE_LABEL_CHOICES)[label]
            self.message_user(
                request,
                f"Set the true label {name} on {count} prediction{'s' if count != 1 else ''}.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Set the true label",
            "opts": self.model._meta,
            "form": form,
            "queryset": queryset,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_name": "set_true_label",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/recognizer/prediction/set_true_label.html", context)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["accuracy_summary"] = accuracy_summary(context["cl"].queryset)
        return response


from recognizer import admin_batch  # noqa: E402, F401 - the BatchJob admin lives there
