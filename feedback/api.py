from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import parse_days
from orgs.selectors import acting_membership

from .selectors import feedback_summary
from .serializers import FeedbackSerializer, FeedbackSubmitSerializer
from .services import feedback_submit


class FeedbackView(APIView):
    @extend_schema(
        request=FeedbackSubmitSerializer,
        responses={201: FeedbackSerializer, 200: FeedbackSerializer},
        summary="Rate a generation 1 or -1; a second rating by the same user replaces the first",
    )
    def post(self, request):
        serializer = FeedbackSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback, created = feedback_submit(
            organization=acting_membership(request).organization,
            user=request.user,
            **serializer.validated_data,
        )
        return Response(FeedbackSerializer(feedback).data, status=201 if created else 200)


def _rate(value) -> str | None:
    return None if value is None else f"{value:f}"


class FeedbackSummaryView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="1 to 366, default 7")],
        responses=OpenApiTypes.OBJECT,
        summary="Totals, positive rate, by tag, by model and by day",
    )
    def get(self, request):
        summary = feedback_summary(acting_membership(request).organization, days=parse_days(request))
        return Response(
            {
                **summary,
                "positive_rate": _rate(summary["positive_rate"]),
                "by_model": [
                    {**row, "positive_rate": _rate(row["positive_rate"])} for row in summary["by_model"]
                ],
                "by_day": [{**row, "date": row["date"].isoformat()} for row in summary["by_day"]],
            }
        )
