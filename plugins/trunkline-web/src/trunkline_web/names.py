"""Customers' names for the contacts the pages list, without a store read per contact.

A contact names its customer by id and address only, and the wallboard's list, an offer and
an agent's tab would show the address, which for some channels is no name at all (a web-chat
address is a hash). A customer is named once, when created (``CustomerCreated``), and never
renamed, so a name once known stays true: :class:`CustomerNames` learns names from the event
stream and reads those it does not know from the store, once each.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from trunkline import Contact, Customer
from trunkline.store import Store

__all__ = ["CustomerNames"]

REMEMBERED = 10_000  # customers whose names are kept, the most recently used


class CustomerNames:
    """The names of customers by workspace and id; ``""`` for one who gave none."""

    def __init__(self, store: Store, size: int = REMEMBERED) -> None:
        self.store = store
        self.size = size
        self._names: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()

    def learn(self, customer: Customer) -> None:
        """Remember ``customer``'s name (from ``CustomerCreated``, or a store read)."""
        key = (customer.workspace, customer.id)
        self._names[key] = customer.name
        self._names.move_to_end(key)
        if len(self._names) > self.size:
            self._names.popitem(last=False)

    def get(self, workspace: str, customer_id: str) -> str:
        """The customer's name if it is known here, else ``""`` (call :meth:`read` first)."""
        return self._names.get((workspace, customer_id), "")

    async def read(self, workspace: str, contacts: Iterable[Contact]) -> None:
        """Read from the store the names of the customers of ``contacts`` not known yet."""
        for contact in contacts:
            if (workspace, contact.customer_id) in self._names:
                continue
            customer = await self.store.customer_by_address(workspace, contact.address)
            if customer is not None and customer.id == contact.customer_id:
                self.learn(customer)
            else:  # none stored: remember that, so it is not asked again
                self.learn(Customer(id=contact.customer_id, workspace=workspace))
