"use strict"; // the agent page is being built
