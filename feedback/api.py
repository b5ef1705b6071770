from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_views import parse_days
from core.schema import days_parameter, errors
from orgs.selectors import acting_membership

from .selectors import feedback_summary
from .serializers import FeedbackSerializer, FeedbackSubmitSerializer, FeedbackSummarySerializer
from .services import feedback_submit


class FeedbackView(APIView):
    @extend_schema(
        request=FeedbackSubmitSerializer,
        # 404: no such generation in this organization; 409: a concurrent submit won, try again; 503:
        # the generation is still being recorded (Retry-After).
        responses={201: FeedbackSerializer, 200: FeedbackSerializer, **errors(404, 409, 503)},
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


class FeedbackSummaryView(APIView):
    @extend_schema(
        parameters=[days_parameter()],
        responses=FeedbackSummarySerializer,
        summary="Totals, positive rate, by tag, by model and by day",
    )
    def get(self, request):
        summary = feedback_summary(acting_membership(request).organization, days=parse_days(request))
        return Response(FeedbackSummarySerializer(summary).data)
