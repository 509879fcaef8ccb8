from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from tests.factories import OPERATOR, make_ins, new_record


async def test_a_record_can_be_created_and_shown(ctx: ServiceContext) -> None:
    ins = make_ins()
    created = await records.create_record(ctx, actor=OPERATOR, request=new_record(ins, ctx.now()))
    shown = await records.show_record(ctx, actor=OPERATOR, ins=ins)
    assert shown.record_id == created.record_id
    assert shown.status == "active"
