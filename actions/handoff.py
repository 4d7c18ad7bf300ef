"""转人工: the grid worker's public name and duty phone, as on the 公示牌."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        from minsheng.services import cases

        try:
            with common.unit_of_work() as uow:
                contact = cases.contact_for_resident(uow, common.resident_of(tracker))
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return []
        if contact is None or not contact.phone:
            dispatcher.utter_message(
                text="暂时没查到您所在网格的值班电话。您可以先把问题告诉我，我登记后会派给网格员，"
                     "他们会主动联系您。"
            )
            return []
        where = f"（{contact.grid_name}）" if getattr(contact, "grid_name", None) else ""
        dispatcher.utter_message(
            text=f"您可以直接联系网格员{where}：{contact.name}，值班电话 {contact.phone}。"
                 "工作时间外如遇紧急情况，请拨打 110 / 119 / 120。"
        )
        return []
