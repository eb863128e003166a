// InputBudget: the node's bytes of unfinished messages, and the newest holder past the limit.
#include <doctest/doctest.h>

#include "net/InputBudget.h"

using partyline::net::InputBudget;

TEST_SUITE("net.InputBudget") {
    TEST_CASE("within the limit nobody is an offender, whatever the number of holders") {
        InputBudget budget(1000);
        for (int fd = 0; fd < 10; ++fd) budget.update(fd, 100);
        CHECK(budget.total() == 1000);
        CHECK_FALSE(budget.offender());
    }

    TEST_CASE("past the limit the newest holder is the offender, until enough gave way") {
        InputBudget budget(1000);
        budget.update(3, 400);
        budget.update(5, 400);
        budget.update(7, 400);
        CHECK(budget.total() == 1200);
        REQUIRE(budget.offender());
        CHECK(*budget.offender() == 7);
        budget.update(7, 0);
        CHECK_FALSE(budget.offender());
    }

    TEST_CASE("an older holder that grows past the limit makes the newest one give way") {
        InputBudget budget(1000);
        budget.update(1, 100);
        budget.update(2, 100);
        budget.update(1, 950);
        REQUIRE(budget.offender());
        CHECK(*budget.offender() == 2);
    }

    TEST_CASE("a holder that finished and begins again is the newest") {
        InputBudget budget(80);
        budget.update(1, 60);
        budget.update(2, 30);
        REQUIRE(budget.offender());
        CHECK(*budget.offender() == 2);
        budget.update(1, 0);  // finished its message
        budget.update(1, 60);
        REQUIRE(budget.offender());
        CHECK(*budget.offender() == 1);
        CHECK(budget.total() == 90);
    }

    TEST_CASE("updates replace, never add up: the total follows what is held now") {
        InputBudget budget(100);
        budget.update(4, 10);
        budget.update(4, 50);
        budget.update(4, 20);
        CHECK(budget.total() == 20);
        budget.update(4, 0);
        budget.update(4, 0);  // leaving twice is harmless
        CHECK(budget.total() == 0);
        budget.update(9, 0);  // holding nothing is not holding
        CHECK(budget.total() == 0);
        CHECK_FALSE(budget.offender());
    }
}
